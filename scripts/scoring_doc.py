"""Write (or, with --check, verify) the generated tables of docs/scoring.md from the scoring table and the
finding catalogs, so the methodology page can never disagree with what the code deducts."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.scanners import base, checks  # noqa: E402  (importing checks registers every catalog)
from chalicelib.scans import scoring  # noqa: E402
from scripts.generated_doc import replace_section, run  # noqa: E402

DOC = ROOT / "docs" / "scoring.md"
START, END = "<!-- generated:start (scripts/scoring_doc.py) -->", "<!-- generated:end -->"


def tables() -> str:
    """The generated markdown: weights, bands, caps, and every finding code with its deduction."""
    assert checks.CHECKS
    specs: dict[tuple[str, str], base.FindingSpec] = {}
    for catalog in base.CATALOGS:
        for code, spec in catalog.specs.items():
            specs[(catalog.signal.value, code)] = spec
    caps = {(c.signal.value, c.code): c.max_grade for c in scoring.CAPS}
    lines = [f"Scoring version **{scoring.SCORING_VERSION}**.", "", "| signal | points |", "|---|---|"]
    lines += [f"| `{k.value}` | {v} |" for k, v in scoring.MAX_SCORES.items()]
    lines += ["", "| grade | score | label |", "|---|---|---|"]
    lines += [f"| {g} | {floor} and above | {label} |" for floor, g, label in scoring.GRADE_BANDS]
    lines += ["", "### Grade caps", "", "| finding | signal | grade at best | why |", "|---|---|---|---|"]
    lines += [f"| `{c.code}` | `{c.signal.value}` | {c.max_grade} | {c.reason} |" for c in scoring.CAPS]
    lines += combined_section()
    lines += ["", "### Every finding code", "",
              "| signal | code | severity | deduction | cap | title |", "|---|---|---|---|---|---|"]
    for signal, codes in scoring.DEDUCTIONS.items():
        for code, points in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0])):
            spec = specs.get((signal.value, code))
            severity = spec.severity.value if spec else ""
            title = spec.title.replace("|", "/") if spec else ""
            lines.append(f"| `{signal.value}` | `{code}` | {severity} | {points} | "
                         f"{caps.get((signal.value, code), '')} | {title} |")
    return "\n".join(lines)


def combined_section() -> list[str]:
    """The combined score (DESIGN.md section 9): the table's weights, the reasoning and how caps still apply."""
    weights = scoring.COMBINED
    if weights is None:
        return ["", "### Combined score", "", "This scoring version defines no combined score."]
    total = weights.external_weight + weights.self_assessment_weight
    return [
        "", "### Combined score (self-assessment)", "",
        "| part | weight |", "|---|---|",
        f"| external score (`score`) | {weights.external_weight} of {total} |",
        f"| self-assessment score (`sa_score`) | {weights.self_assessment_weight} of {total} |",
        "",
        f"{weights.rationale}",
        "",
        "`sa_score` is the points of the insured's answers over the best possible answers, 0-100, rounded half "
        "up (the questionnaire is versioned data: `chalicelib/selfassessment/questionnaires/`). "
        f"`combined_score` = ({weights.external_weight} x `score` + {weights.self_assessment_weight} x `sa_score`)"
        f" / {total}, rounded half up. The grade caps above hold the combined score and grade down exactly as "
        "they hold the external ones: a declared control never lifts a grade that an observed critical exposure "
        "capped. Once `combined_score` exists, `grade`, `grade_label` and `ready` follow it; `score` stays the "
        "external score. Answers a scan finding contradicts are listed on the report, not scored twice.",
    ]


def render(text: str) -> str:
    """`text` with its generated section replaced; raises ValueError when the markers are missing."""
    return replace_section(text, START, END, tables(), str(DOC))


def main(argv: list[str] | None = None) -> int:
    """Write docs/scoring.md, or with --check exit 1 when it is out of date."""
    return run(argv, doc=DOC, render=render, script="scripts/scoring_doc.py", description=__doc__ or "")


if __name__ == "__main__":
    raise SystemExit(main())

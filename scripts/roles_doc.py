"""Write (or, with --check, verify) docs/roles.md's table of every route and the least role it needs, from the
registry the operation table fills (chalicelib/access/policy.py), so the page never disagrees with the check."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.access.policy import POLICY  # noqa: E402
from chalicelib.access.roles import Role  # noqa: E402
from chalicelib.api import table  # noqa: E402  (importing the table registers every route)
from scripts.generated_doc import replace_section, run  # noqa: E402

DOC = ROOT / "docs" / "roles.md"
START, END = "<!-- generated:start (scripts/roles_doc.py) -->", "<!-- generated:end -->"


def tables() -> str:
    """The generated markdown: one row per route, in the table's order; public routes say so."""
    assert table.ROUTED
    lines = ["| method | route | operation | least role |", "|---|---|---|---|"]
    for rule in POLICY.rules():
        role = "public (no key)" if rule.public else rule.role.value
        lines.append(f"| {rule.method} | `{rule.path}` | `{rule.operation_id}` | {role} |")
    counts = {role: sum(1 for r in POLICY.rules() if not r.public and r.role == role) for role in Role}
    lines += ["", "Routes per least role: " + ", ".join(f"{role.value} {n}" for role, n in counts.items()) + "."]
    return "\n".join(lines)


def render(text: str) -> str:
    """`text` with its generated section replaced; raises ValueError when the markers are missing."""
    return replace_section(text, START, END, tables(), str(DOC))


def main(argv: list[str] | None = None) -> int:
    """Write docs/roles.md, or with --check exit 1 when it is out of date."""
    return run(argv, doc=DOC, render=render, script="scripts/roles_doc.py", description=__doc__ or "")


if __name__ == "__main__":
    raise SystemExit(main())

"""Write (or, with --check, verify) docs/roles.md's table of every route and the least role it needs, from the
registry the operation table fills (chalicelib/access/policy.py), so the page never disagrees with the check."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.access.policy import POLICY  # noqa: E402
from chalicelib.access.roles import Role  # noqa: E402
from chalicelib.api import table  # noqa: E402  (importing the table registers every route)

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
    head, sep, rest = text.partition(START)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"{DOC} lacks the generated-section markers")
    return f"{head}{START}\n{tables()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/roles.md is out of date")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print("docs/roles.md is out of date: run python scripts/roles_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

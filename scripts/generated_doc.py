"""What scripts/roles_doc.py and scripts/scoring_doc.py share: replace a marked section of a page, or check it."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path


def replace_section(text: str, start: str, end: str, body: str, name: str) -> str:
    """`text` with what lies between the `start` and `end` markers replaced by `body`; raises ValueError when
    either marker is missing (`name` says which page)."""
    head, sep, rest = text.partition(start)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        raise ValueError(f"{name} lacks the generated-section markers")
    return f"{head}{start}\n{body}\n{end}{tail}"


def run(argv: list[str] | None, *, doc: Path, render: Callable[[str], str], script: str, description: str) -> int:
    """Write `doc` rendered, or with --check return 1 (saying which command fixes it) when it is out of date."""
    parser = argparse.ArgumentParser(description=description)
    name = f"docs/{doc.name}"
    parser.add_argument("--check", action="store_true", help=f"exit 1 when {name} is out of date")
    args = parser.parse_args(argv)
    current = doc.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{name} is out of date: run python {script}", file=sys.stderr)
            return 1
        return 0
    doc.write_text(wanted)
    return 0

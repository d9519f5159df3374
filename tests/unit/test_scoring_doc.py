"""docs/scoring.md, the methodology page the PDF points to, never disagrees with the scoring table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("perimeter_scoring_doc", ROOT / "scripts" / "scoring_doc.py")
assert _spec is not None and _spec.loader is not None
scoring_doc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scoring_doc)


def test_the_methodology_page_lists_every_code_weight_and_cap_the_code_uses() -> None:
    assert scoring_doc.main(["--check"]) == 0, "run: python scripts/scoring_doc.py"


def test_the_generated_tables_name_each_cap_with_its_grade() -> None:
    text = scoring_doc.tables()
    assert "| `known-exploited-version` | `scan` | D |" in text
    assert "| `scan` | `known-exploited-version` | critical | 25 | D |" in text

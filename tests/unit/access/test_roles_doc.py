"""docs/roles.md, the route -> least role page, never disagrees with the registry the role check reads."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("perimeter_roles_doc", ROOT / "scripts" / "roles_doc.py")
assert _spec is not None and _spec.loader is not None
roles_doc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(roles_doc)


def test_the_roles_page_lists_every_route_with_the_role_the_check_enforces() -> None:
    assert roles_doc.main(["--check"]) == 0, "run: python scripts/roles_doc.py"


def test_the_generated_table_names_public_routes_and_declared_exceptions() -> None:
    text = roles_doc.tables()
    assert "| GET | `/v1/health` | `getHealth` | public (no key) |" in text
    assert "| GET | `/v1/audit-events` | `listAuditEvents` | admin |" in text
    assert "| POST | `/v1/scans` | `createScan` | member |" in text

"""Vendor dialects: each vendor's documented API, translated at the edge onto Perimeter's services.

One module per vendor (its mapping tables and small functions); this package gathers them so app.py
routes every dialect operation and each dialect serves its own OpenAPI document. /v1 is unchanged.
"""

from __future__ import annotations

from chalicelib.api.dialects import cypersecurity, cypersecurity_account  # noqa: F401 (the account routes register)
from chalicelib.api.dialects.base import Dialect
from chalicelib.api.dialects.certiq import CERTIQ
from chalicelib.api.dialects.certix_routes import CERTIX
from chalicelib.api.dialects.secuscan import secuscan
from chalicelib.api.operations import Op

DIALECTS: tuple[Dialect, ...] = (CERTIX, CERTIQ, secuscan, cypersecurity.DIALECT)

DIALECT_OPERATIONS: tuple[Op, ...] = tuple(op for dialect in DIALECTS for op in dialect.operations)

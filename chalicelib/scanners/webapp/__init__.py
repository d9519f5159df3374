"""Signal `webapp` (scan type `webapp`, issue 14): an authorised, polite web application scan.

`run(target, ctx)` is the check (chalicelib.scanners.checks registers it); `WebappOptions` is the
`options.webapp` model; `terminate_all()` kills the external engines' process groups.
"""

from chalicelib.scanners.webapp.check import run
from chalicelib.scanners.webapp.engines import terminate_all
from chalicelib.scanners.webapp.options import WebappOptions

__all__ = ["WebappOptions", "run", "terminate_all"]

"""Cold import of the API handler (`import app`) with .pyc present; target <= 300 ms, no boto3 client at import.

Reference in the same run: `import chalice` alone.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

from bench.common import ROOT, write

RUNS = 7
PROBE = ("import sys,time;t=time.perf_counter();import {module};d=time.perf_counter()-t;"
         "print(d, 'boto3' in sys.modules, 'botocore' in sys.modules)")


def measure(module: str) -> tuple[float, bool]:
    """Median wall seconds of a fresh interpreter importing `module`, and whether boto3 got imported."""
    samples, boto = [], False
    for _ in range(RUNS):
        out = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
        samples.append(float(out[0]))
        boto = boto or out[1] == "True" or out[2] == "True"
    return statistics.median(samples), boto


def main() -> None:
    """Compile, then measure `import app` against `import chalice`."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "app.py", "chalicelib"], cwd=ROOT, check=True)
    app_s, app_boto = measure("app")
    ref_s, _ = measure("chalice")
    write("import_time", {"import_app_p50_ms": round(app_s * 1000, 1), "reference_import_chalice_p50_ms":
                          round(ref_s * 1000, 1), "boto3_imported_at_import": app_boto, "target_ms": 300,
                          "met": app_s * 1000 <= 300 and not app_boto, "runs": RUNS})


if __name__ == "__main__":
    main()

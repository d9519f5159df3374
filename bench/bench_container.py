"""Benchmark: a container scan end to end (pull from a loopback registry + inventory + OSV match + SBOM) against the
same image's inventory+match alone (library calls on the pulled image) and a plain `tar` extraction of its layers.

Usage: .venv/bin/python bench/bench_container.py [--packages 400] [--runs 3]

The image is generated: Debian 12 with `--packages` dpkg packages, half as many npm packages in a
package-lock.json, a Python dist-info per tenth package and 2 MiB of filler files, and OSV records
for every fifth package. Figures: median wall time of `--runs`, bytes pulled, components, findings.
JSON goes to bench/results/container.json.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dns.resolver  # noqa: E402

from bench.common import write  # noqa: E402
from chalicelib.scanners.base import ScanContext  # noqa: E402
from chalicelib.scanners.container.check import ContainerSetup, analyse, scan_image  # noqa: E402
from chalicelib.scanners.container.reference import ImageReference, parse_reference  # noqa: E402
from chalicelib.scanners.container.registry import RegistryClient  # noqa: E402
from tests.support.oci import OS_RELEASE, BuiltImage, OciRegistry, build_image, make_layer  # noqa: E402
from tests.support.osv_fixture import osv_data, record  # noqa: E402


def generated_image(packages: int) -> tuple[BuiltImage, list[dict[str, Any]]]:
    """The image and the OSV records that hit every fifth package."""
    stanzas = [f"Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{i}-1\n"
               for i in range(packages)]
    base = make_layer({"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": "\n".join(stanzas).encode(),
                       **{f"usr/share/filler/{i}.bin": os.urandom(64 * 1024) for i in range(32)}})
    lock = {"lockfileVersion": 3, "packages": {f"node_modules/npm{i}": {"version": f"2.{i}.0"}
                                               for i in range(packages // 2)}}
    app: dict[str, bytes] = {"app/package-lock.json": json.dumps(lock).encode()}
    for i in range(0, packages, 10):
        app[f"usr/lib/python3/site-packages/py{i}-1.0.dist-info/METADATA"] = f"Name: py{i}\nVersion: 1.0\n".encode()
    records = [record(f"DEB-{i}", "Debian:12", f"pkg{i}", [{"introduced": "0"}, {"fixed": f"1.{i}-2"}])
               for i in range(0, packages, 5)]
    records += [record(f"NPM-{i}", "npm", f"npm{i}", [{"introduced": "0"}, {"fixed": f"2.{i}.1"}])
                for i in range(0, packages // 2, 5)]
    return build_image([base, make_layer(app)], {"config": {"User": "app"}}), records


def median(fn: Any, runs: int) -> tuple[float, Any]:
    """Median seconds of `runs` calls and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def tar_extract(image: BuiltImage) -> None:
    """`tar -x` of every layer into a fresh directory (the reference: unpacking only, nothing read)."""
    layers = [image.blobs[d["digest"]] for d in json.loads(image.manifest)["layers"]]
    with tempfile.TemporaryDirectory() as where:
        for layer in layers:
            flags = ["-xz"] if layer.startswith(b"\x1f\x8b") else ["-x"]
            subprocess.run(["tar", *flags, "-C", where], input=layer, check=True, capture_output=True)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the three measurements and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packages", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    image, records = generated_image(args.packages)
    osv = osv_data(records)
    registry = OciRegistry("bench/app", image).start()
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False),
                      allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), http_timeout=30.0)
    setup = ContainerSetup(osv=osv)
    try:
        before = registry.bytes_served
        end_to_end, result = median(lambda: scan_image(registry.reference, ctx, setup), args.runs)
        pulled = (registry.bytes_served - before) // args.runs
        ref = parse_reference(registry.reference)
        assert isinstance(ref, ImageReference)
        pulled_image = RegistryClient(ref, ctx).pull()
    finally:
        registry.stop()
    library, (findings, sbom, _) = median(lambda: analyse(pulled_image, "bench", ctx, setup), args.runs)
    figures: dict[str, Any] = {
        "packages_generated": args.packages, "runs": args.runs,
        "image_bytes": sum(layer.size for layer in pulled_image.layers),
        "end_to_end": {"median_s": round(end_to_end, 4), "bytes_pulled": pulled,
                       "components": len(sbom["components"]), "findings": len(result.findings),
                       "status": result.status.value},
        "inventory_and_match_only": {"median_s": round(library, 4), "findings": len(findings)},
    }
    if shutil.which("tar"):
        reference, _ = median(lambda: tar_extract(image), args.runs)
        figures["tar_extract_reference"] = {"median_s": round(reference, 4)}
    write("container", figures)
    return figures


if __name__ == "__main__":
    main()

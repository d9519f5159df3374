"""The self-assessment page: render time and size, and GET / POST (save) latency through Chalice's test client.

In-memory store and port fake, so the figures are the page's own cost (rendering, CSRF, rate-limit
counting, form parsing), not storage. Prints JSON and writes bench/results/bench_sa_page.json.
Run: `python -m bench.bench_sa_page [--requests 200]`.
"""

from __future__ import annotations

import argparse
import os
import time
from urllib.parse import urlencode

from bench.common import summary_ms, write

for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(_name, "testing")


def run(requests: int) -> dict[str, object]:
    """Median and tail latencies of rendering, GET and a saving POST; the page's size in bytes."""
    from chalice.test import Client

    from app import app
    from chalicelib.api import sa_routes
    from chalicelib.bootstrap import Services, set_services
    from chalicelib.core.settings import Settings
    from chalicelib.selfassessment.page import render_form
    from tests.support.memory import MemoryObjectStore, MemoryStore, RecordingWorkflow
    from tests.support.sa_fake import FakeSelfAssessment, session

    sa_routes.TOKEN_LIMIT_PER_MINUTE = sa_routes.ADDRESS_LIMIT_PER_MINUTE = 10**6  # measure, do not throttle
    services = Services(Settings.from_env({}, key_pepper="bench-pepper-0123456789"), store=MemoryStore(),
                        workflow=RecordingWorkflow(), objects=MemoryObjectStore())
    fake = FakeSelfAssessment()
    services.__dict__["self_assessment"] = fake
    set_services(services)
    token = "sa_bench_0123456789abcdef"
    fake.add(token, session("shop.example"))
    renders = []
    for _ in range(requests):
        started = time.perf_counter()
        page = render_form(fake.open(token), csrf_token="x" * 43)
        renders.append(time.perf_counter() - started)
    csrf = sa_routes.csrf_token(sa_routes.csrf_secret(services.settings), token)
    form = urlencode({"csrf": csrf, "action": "save", "q-mfa": "yes", "q-backups": "partly"}).encode()
    gets, posts = [], []
    with Client(app) as client:
        for _ in range(requests):
            started = time.perf_counter()
            assert client.http.get(f"/sa/{token}").status_code == 200
            gets.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert client.http.post(f"/sa/{token}", body=form, headers={
                "Content-Type": "application/x-www-form-urlencoded"}).status_code == 303
            posts.append(time.perf_counter() - started)
    set_services(None)
    return {"render": summary_ms(renders), "get": summary_ms(gets), "post_save": summary_ms(posts),
            "page_bytes": len(page.html)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    write("bench_sa_page", run(parser.parse_args().requests))


if __name__ == "__main__":
    main()

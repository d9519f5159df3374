"""Webhook consumer throughput: signed deliveries per second to a local receiver on loopback.

The consumer under test is the production one (`WebhookConsumer`: delivery record read, secret
unwrap, Standard Webhooks + X-Perimeter signing, SSRF re-check, pinned connection, 10 s watchdog,
attempt log write, batch of 10 delivered concurrently), fed through the local poller's `poll_once`
from an in-memory queue and store, so the figure is the consumer's own cost, not SQS's or
DynamoDB's. References in the same run, same receiver, same concurrency (10 at a time, one
connection per request): `raw_posts_per_second` (http.client POSTs, no signing, no guard, no
bookkeeping) and `sender_posts_per_second` (`sender.deliver` alone with signed headers).

The receiver runs in its own process so that it does not share the interpreter lock with the
consumer. Prints JSON, writes bench/results/webhook_delivery.json.
Run: `python bench/bench_webhook_delivery.py [--events 600] [--runs 5]`.
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import multiprocessing
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import write
from chalicelib.core.secretbox import SecretBox
from chalicelib.local.poller import poll_once
from chalicelib.webhooks import queue_config
from chalicelib.webhooks.consumer import WebhookConsumer
from chalicelib.webhooks.repository import WebhookRepository
from chalicelib.webhooks.sender import deliver
from chalicelib.webhooks.service import CreateWebhook, WebhookService
from chalicelib.webhooks.signing import new_secret, sign
from tests.support.fakes import FakeResolver
from tests.support.memory import MemoryQueue, MemoryStore

HOST = "hooks.bench.test"
ALLOWED = (ipaddress.ip_network("127.0.0.0/8"),)
TARGET_PER_SECOND = 300
CONCURRENCY = queue_config.BATCH_SIZE
DATA = {"scan_token": "scn_01JBENCHBENCHBENCHBENCHBENC", "status": "complete", "score": 87, "grade": "B",
        "ready": True, "report_url": "https://api.example.com/v1/scans/scn_01JBENCH/report",
        "target": "example.com", "scan_type": "posture"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def _serve(port_out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    server = _Server(("127.0.0.1", 0), _Handler)
    port_out.put(server.server_address[1])
    server.serve_forever(poll_interval=0.05)


def _consumer_run(port: int, events: int) -> float:
    """Signed deliveries per second of the consumer for `events` queued events."""
    store, queue, dlq = MemoryStore(), MemoryQueue(visibility_timeout=360), MemoryQueue()
    resolver = FakeResolver({HOST: ["127.0.0.1"]})
    service = WebhookService(WebhookRepository(store), queue, SecretBox(os.urandom(32)), resolver, ALLOWED)
    consumer = WebhookConsumer(service, queue, dlq, resolver, ALLOWED)
    service.create("bench", CreateWebhook(url=f"http://{HOST}:{port}/hook", events=["*"]))
    for _ in range(events):
        service.publish("bench", "scan.completed", DATA)
    started = time.perf_counter()
    delivered = 0
    while True:
        got = poll_once(queue, consumer.handle, wait_seconds=0)
        if not got:
            break
        delivered += got
    elapsed = time.perf_counter() - started
    assert delivered == events and len(queue) == 0 and len(dlq) == 0, "every delivery must succeed"
    return events / elapsed


def _raw_post(port: int, body: bytes) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/hook", body=body, headers={"Content-Type": "application/json", "Connection": "close"})
        response = conn.getresponse()
        response.read()
        assert response.status == 200
    finally:
        conn.close()


def _concurrent(count: int, one: object) -> float:
    """`one()` `count` times, CONCURRENCY at a time in batches (like the consumer); calls per second."""
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        started = time.perf_counter()
        for start in range(0, count, CONCURRENCY):
            list(pool.map(lambda _: one(), range(min(CONCURRENCY, count - start))))  # type: ignore[operator]
        return count / (time.perf_counter() - started)


def run(events: int, runs: int) -> dict[str, object]:
    """Median over `runs` of each figure, measured in alternation."""
    ports: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    receiver = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    receiver.start()
    try:
        port = int(ports.get(timeout=10))
        body = ('{"id":"evt_bench","event":"scan.completed","created_at":"2026-11-21T00:00:00Z",'
                + ",".join(f'"{k}":"{v}"' for k, v in DATA.items()) + "}").encode()
        secret = new_secret()
        resolver = FakeResolver({HOST: ["127.0.0.1"]})

        def signed() -> None:
            headers = sign([secret], "evt_bench", int(time.time()), body)
            outcome = deliver(f"http://{HOST}:{port}/hook", body, headers, allowed=ALLOWED, resolver=resolver)
            assert outcome.ok

        _consumer_run(port, 50)  # warm-up: imports, first connections
        consumer, raw, sender = [], [], []
        for _ in range(runs):
            consumer.append(_consumer_run(port, events))
            raw.append(_concurrent(events, lambda: _raw_post(port, body)))
            sender.append(_concurrent(events, signed))
    finally:
        receiver.terminate()
        receiver.join(5)
    median = statistics.median(consumer)
    return {
        "benchmark": "webhook_delivery",
        "signed_deliveries_per_second": round(median),
        "signed_deliveries_per_second_runs": [round(v) for v in consumer],
        "raw_posts_per_second": round(statistics.median(raw)),
        "raw_posts_per_second_runs": [round(v) for v in raw],
        "sender_posts_per_second": round(statistics.median(sender)),
        "consumer_share_of_raw": round(median / statistics.median(raw), 2),
        "target_per_second": TARGET_PER_SECOND,
        "meets_target": median >= TARGET_PER_SECOND,
        "events_per_run": events,
        "runs": runs,
        "concurrency": CONCURRENCY,
        "body_bytes": len(body),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    """Run, print and save the result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    write("webhook_delivery", run(args.events, args.runs))


if __name__ == "__main__":
    main()

"""The embedded stack's HTTP server: chalice's local gateway behind a threaded http.server."""

from __future__ import annotations

from typing import Any

from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    ThreadedHTTPServer,
)


class Server(ThreadedHTTPServer):
    """A threaded HTTP server with a listen backlog that absorbs bursts."""

    request_queue_size = 256  # socketserver's default of 5 resets bursts of concurrent clients


class Handler(ChaliceRequestHandler):
    """chalice's request handler, answering every method the way API Gateway does."""

    # Headers and body go out in separate writes: without TCP_NODELAY a keep-alive client
    # waits ~40 ms on every response for the delayed ACK.
    disable_nagle_algorithm = True

    # API Gateway answers every method (405 where no route has it); http.server says 501.
    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)


def serve_api(host: str, port: int) -> LocalDevServer:
    """A server for the Chalice app on host:port, bound but not yet serving (call serve_forever)."""
    from app import app

    # What chalice.local.create_local_server does, with our server class: a thread-local current_request.
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    config = Config.create(chalice_stage="local", app_name="perimeter", chalice_app=app)
    return LocalDevServer(app, config, host, port, handler_cls=Handler, server_cls=Server)

"""A scriptable local HTTP server for the fetcher pipeline tests: each path is answered by a function, and
every request is recorded (path, headers, time) before it is answered."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Route = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float
    method: str = "GET"
    body: bytes = b""


@dataclass
class Server:
    routes: dict[str, Route]
    base: str = ""
    hits: list[Hit] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def hits_for(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


def send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    ctype: str = "text/html; charset=utf-8",
    headers: dict[str, str] | None = None,
) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    h.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        h.send_header(k, v)
    h.end_headers()
    if body:
        h.wfile.write(body)


def page(body: bytes, ctype: str = "text/html; charset=utf-8", etag: str | None = None) -> Route:
    """A static page with an ETag and honest 304s."""
    tag = etag or f'"{abs(hash(body)):x}"'

    def route(h: BaseHTTPRequestHandler) -> None:
        if h.headers.get("If-None-Match") == tag:
            h.send_response(304)
            h.send_header("ETag", tag)
            h.end_headers()
            return
        send(h, 200, body, ctype, {"ETag": tag})

    return route


def status(code: int, headers: dict[str, str] | None = None) -> Route:
    def route(h: BaseHTTPRequestHandler) -> None:
        send(h, code, b"", headers=headers)

    return route


@contextmanager
def serve(routes: dict[str, Route], host: str = "127.0.0.1") -> Iterator[Server]:
    server = Server(routes=routes)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            path = self.path.split("?", 1)[0]
            server.hits.append(Hit(path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()))
            route = server.routes.get(path)
            try:
                if route is None:
                    send(self, 404)
                else:
                    route(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (deadline, size cap): that is the point of some tests

        def do_POST(self) -> None:  # noqa: N802 - stdlib name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            server.hits.append(Hit(path, headers, time.monotonic(), "POST", body))
            route = server.routes.get("POST " + path)
            if route is None:
                send(self, 404)
            else:
                route(self)

    httpd = ThreadingHTTPServer((host, 0), Handler)
    httpd.daemon_threads = True
    server.base = f"http://{host}:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()

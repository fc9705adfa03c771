"""GuardedClient against real sockets: local HTTP servers on 127.0.0.1 / 127.0.0.2.

Private networks are blocked by default; each test that needs the local server allows exactly the networks it
uses, through the setting.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.core.settings import Settings
from services.fetcher.feeds import FeedError, parse_feed
from services.fetcher.http import (
    BlockedAddress,
    DeadlineExceeded,
    FetchError,
    GuardedClient,
    HTTPStatusError,
    TooLarge,
    TooManyRedirects,
)


class Server:
    def __init__(self, host: str) -> None:
        self.hits: list[str] = []
        self.other_port = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                server.hits.append(self.path)
                try:
                    self._route()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _chunked(self, chunks: Iterator[bytes], **headers: str) -> None:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                for k, v in headers.items():
                    self.send_header(k.replace("_", "-"), v)
                self.end_headers()
                for chunk in chunks:
                    if chunk:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def _route(self) -> None:
                p = self.path
                if p == "/ok":
                    self._send(200, b"<html>ok</html>", ETag='"1"', Content_Type="text/html; charset=utf-8")
                elif p == "/cond":
                    if self.headers.get("If-None-Match") == '"1"':
                        self._send(304, ETag='"1"')
                    else:
                        self._send(200, b"fresh", ETag='"1"')
                elif p == "/ua":
                    self._send(200, (self.headers.get("User-Agent") or "").encode())
                elif p == "/to-other":
                    self._send(302, Location=f"http://127.0.0.2:{server.other_port}/secret")
                elif p == "/to-mapped":
                    self._send(302, Location=f"http://[::ffff:127.0.0.2]:{server.other_port}/secret")
                elif p == "/to-decimal":
                    self._send(302, Location=f"http://2130706434:{server.other_port}/secret")
                elif p.startswith("/loop"):
                    self._send(302, Location=f"/loop{len(server.hits)}")
                elif p == "/retry":
                    self._send(429, Retry_After="30")
                elif p == "/drip":
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    for _ in range(100):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.2)
                elif p == "/stall":
                    self.send_response(200)
                    self.send_header("Content-Length", "10")
                    self.end_headers()
                    self.wfile.flush()
                    time.sleep(5)
                elif p == "/stall-headers":
                    time.sleep(5)
                elif p == "/lying-short":
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b"only ten b")
                    self.wfile.flush()
                    self.close_connection = True
                elif p == "/lying-huge":
                    self.send_response(200)
                    self.send_header("Content-Length", str(10**12))
                    self.end_headers()
                    self.wfile.write(b"x" * 1000)
                    self.close_connection = True
                elif p == "/chunked-big":
                    self._chunked(b"x" * 65536 for _ in range(10_000))
                elif p == "/gzip-bomb":
                    self._chunked(_gzip_zeros(1 << 30), Content_Encoding="gzip")
                else:
                    self._send(404)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host = self.httpd.server_address[0]
        return f"http://{host}:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _gzip_zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(chunk)
    for _ in range(total // chunk):
        yield comp.compress(zeros)
    yield comp.flush()


def _can_bind(host: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@pytest.fixture
def servers() -> Iterator[tuple[Server, Server]]:
    if not _can_bind("127.0.0.2"):
        pytest.skip("127.0.0.2 is not bindable here")
    main, other = Server("127.0.0.1"), Server("127.0.0.2")
    main.other_port = other.port
    try:
        yield main, other
    finally:
        main.close()
        other.close()


def _client(allow: str = "127.0.0.1/32", **kw: object) -> GuardedClient:
    base: dict[str, object] = {
        "allow_private_networks": allow,
        "fetch_deadline_s": 5.0,
        "fetch_read_timeout_s": 5.0,
    }
    base.update(kw)
    return GuardedClient(Settings(**base))  # type: ignore[arg-type]


def test_plain_fetch_conditional_get_and_user_agent(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    with _client() as client:
        doc = client.get(main.url("/ok"))
        assert doc.status == 200
        assert doc.body == b"<html>ok</html>"
        assert client.get(main.url("/cond"), etag='"1"').status == 304
        assert client.get(main.url("/ua")).body.startswith(b"Communique/")


def test_local_server_is_blocked_unless_allowed(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    with _client(allow="false") as client, pytest.raises(BlockedAddress):
        client.get(main.url("/ok"))
    with _client(allow="10.0.0.0/8") as client, pytest.raises(BlockedAddress):
        client.get(main.url("/ok"))
    assert main.hits == []


@pytest.mark.parametrize("path", ["/to-other", "/to-mapped", "/to-decimal"])
def test_redirect_to_a_blocked_address_never_reaches_it(servers: tuple[Server, Server], path: str) -> None:
    main, other = servers
    with _client() as client, pytest.raises(BlockedAddress):
        client.get(main.url(path))
    assert main.hits == [path]
    assert other.hits == []


def test_host_names_connect_to_the_checked_address(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    answers = iter([["127.0.0.1"]])
    with GuardedClient(
        Settings(allow_private_networks="127.0.0.1/32"), resolver=lambda host, port: next(answers)
    ) as client:
        # "source.invalid" exists in no DNS: the request can only arrive through the pinned address
        assert client.get(f"http://source.invalid:{main.port}/ok").body == b"<html>ok</html>"


def test_dns_rebinding_is_blocked_at_connect(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["93.184.215.14"] if len(calls) == 1 else ["127.0.0.1"]

    # A pre-check with the first answer would pass; the connect-time answer is the one that counts.
    with GuardedClient(Settings(allow_private_networks="false"), resolver=rebinding) as client:
        rebinding("warmup", 0)
        with pytest.raises(BlockedAddress):
            client.get(f"http://rebind.invalid:{main.port}/ok")
    assert main.hits == []


def test_endless_redirects(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    with _client(max_redirects=4) as client, pytest.raises(TooManyRedirects):
        client.get(main.url("/loop"))
    assert len(main.hits) == 5


def test_retry_after(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    with _client() as client, pytest.raises(HTTPStatusError) as info:
        client.get(main.url("/retry"))
    assert info.value.status == 429
    assert info.value.retry_after == 30


def test_dripping_server_is_cut_by_the_deadline(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    started = time.monotonic()
    with _client(fetch_deadline_s=1.0) as client, pytest.raises(DeadlineExceeded):
        client.get(main.url("/drip"))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("path", ["/stall", "/stall-headers"])
def test_stalled_server_is_cut_by_the_deadline_not_the_read_timeout(
    servers: tuple[Server, Server], path: str
) -> None:
    main, _ = servers
    started = time.monotonic()
    with _client(fetch_deadline_s=1.0, fetch_read_timeout_s=30.0) as client, pytest.raises(DeadlineExceeded):
        client.get(main.url(path))
    assert time.monotonic() - started < 2.0


def test_lying_content_length_short_body(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    with _client() as client, pytest.raises(FetchError):
        client.get(main.url("/lying-short"))


def test_declared_length_over_the_cap(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    with _client(max_body_bytes=100_000) as client, pytest.raises(TooLarge):
        client.get(main.url("/lying-huge"))


def test_chunked_body_without_length_over_the_cap(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    with _client(max_body_bytes=1_000_000) as client, pytest.raises(TooLarge):
        client.get(main.url("/chunked-big"))


def test_gzip_bomb_over_the_wire(servers: tuple[Server, Server]) -> None:
    main, _ = servers
    tracemalloc.start()
    started = time.monotonic()
    try:
        with _client(max_body_bytes=5_000_000) as client, pytest.raises(TooLarge):
            client.get(main.url("/gzip-bomb"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024
    assert time.monotonic() - started < 10


# ----------------------------------------------------------------------------- TLS through the pinned address


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, ssl.SSLContext]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl not available")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)]
        + ["-days", "1", "-subj", "/CN=mfa.test", "-addext", "subjectAltName=DNS:mfa.test"],
        check=True,
        capture_output=True,
    )
    server = Server("127.0.0.1")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server.httpd.socket = server_ctx.wrap_socket(server.httpd.socket, server_side=True)
    client_ctx = ssl.create_default_context(cafile=str(cert))
    try:
        yield server.port, client_ctx
    finally:
        server.close()


def test_tls_verifies_the_host_name_while_connecting_to_the_pinned_address(
    tls_server: tuple[int, ssl.SSLContext],
) -> None:
    port, ctx = tls_server
    settings = Settings(allow_private_networks="127.0.0.1/32")
    with GuardedClient(settings, resolver=lambda host, p: ["127.0.0.1"], ssl_context=ctx) as client:
        assert client.get(f"https://mfa.test:{port}/ok").body == b"<html>ok</html>"
        # same address, other name: the certificate does not match, so SNI/verification use the name
        with pytest.raises(FetchError):
            client.get(f"https://other.test:{port}/ok")


# ----------------------------------------------------------------------------- XXE canary


def test_external_entities_make_no_request(servers: tuple[Server, Server]) -> None:
    canary, _ = servers
    dtd = canary.url("/evil.dtd")
    bodies = [
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{dtd}"><rss version="2.0"><channel/></rss>',
        f'<!DOCTYPE r [<!ENTITY x SYSTEM "{dtd}">]><rss version="2.0"><channel><title>&x;</title>'
        "</channel></rss>",
        f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{dtd}"> %p;]><rss version="2.0"><channel/></rss>',
        f'<?xml version="1.0"?>\n<!doctype rss [\n<!entity x system "{dtd}">\n]>\n'
        "<rss><channel>&x;</channel></rss>",
    ]
    for body in bodies:
        with pytest.raises(FeedError):
            parse_feed(body.encode(), "https://mfa.example/rss.xml")
    assert canary.hits == []

"""GuardedClient with httpx.MockTransport (no sockets) and the pure address/decoding helpers."""

from __future__ import annotations

import gzip
import ipaddress
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import brotli
import httpcore
import httpx
import pytest

from services.core.settings import Settings
from services.fetcher.http import (
    BlockedAddress,
    DeadlineExceeded,
    FetchError,
    GuardedClient,
    HTTPStatusError,
    PinnedBackend,
    TooLarge,
    TooManyRedirects,
    check_address,
    decode_text,
    normalize_host,
    parse_retry_after,
)

Handler = Callable[[httpx.Request], httpx.Response]


def _settings(**kw: object) -> Settings:
    base: dict[str, object] = {"allow_private_networks": "false", "fetch_deadline_s": 5.0, "max_redirects": 5}
    base.update(kw)
    return Settings(**base)  # type: ignore[arg-type]


def _client(handler: Handler, **kw: object) -> GuardedClient:
    return GuardedClient(_settings(**kw), transport=httpx.MockTransport(handler))


class _Stream(httpx.SyncByteStream):
    """A lazily generated response body; counts how many chunks the client pulled."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._chunks:
            self.pulled += 1
            yield chunk


# ----------------------------------------------------------------------------- address policy

BLOCKED = [
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "64:ff9b::7f00:1",
    "64:ff9b::a9fe:a9fe",
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "0.0.0.0",
    "0.1.2.3",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "100.127.255.255",
    "192.0.0.8",
    "198.18.0.1",
    "198.19.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::",
    "2001:db8::1",
]
PUBLIC = [
    "93.184.215.14",
    "8.8.8.8",
    "2a00:1450:4001:80b::200e",
    "172.32.0.1",
    "100.128.0.1",
    "64:ff9b::808:808",
    "::ffff:8.8.8.8",
]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_addresses(address: str) -> None:
    with pytest.raises(BlockedAddress):
        check_address(address, False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses(address: str) -> None:
    check_address(address, False)


def test_allow_list() -> None:
    nets = [ipaddress.ip_network("127.0.0.1/32")]
    check_address("127.0.0.1", nets)
    check_address("::ffff:127.0.0.1", nets)  # the embedded address is the one listed
    with pytest.raises(BlockedAddress):
        check_address("127.0.0.2", nets)
    with pytest.raises(BlockedAddress):
        check_address("10.0.0.1", nets)
    check_address("10.0.0.1", True)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("[::FFFF:127.0.0.1]", "::ffff:7f00:1"),
        ("Example.COM.", "example.com"),
        ("1e100.net", "1e100.net"),
    ],
)
def test_normalize_host(host: str, expected: str) -> None:
    assert normalize_host(host) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://%31%32%37.0.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://0.0.0.0/",
        "http://100.64.0.1/",
        "file:///etc/passwd",
        "gopher://example.org/",
        "ftp://example.org/",
        "dict://example.org:11211/",
    ],
)
def test_blocked_urls_never_reach_the_transport(url: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"secret")

    with _client(handler) as client, pytest.raises(BlockedAddress):
        client.get(url)
    assert seen == []


def test_redirect_to_internal_address_is_blocked() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "mfa.example":
            return httpx.Response(302, headers={"Location": "http://127.0.0.1:6379/"})
        return httpx.Response(200, content=b"internal")

    with _client(handler) as client, pytest.raises(BlockedAddress):
        client.get("https://mfa.example/news")
    assert seen == ["https://mfa.example/news"]


@pytest.mark.parametrize(
    "target", ["file:///etc/passwd", "http://[::ffff:169.254.169.254]/", "http://2130706433/"]
)
def test_redirect_to_forbidden_scheme_or_literal(target: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(301, headers={"Location": target})

    with _client(handler) as client, pytest.raises(BlockedAddress):
        client.get("https://mfa.example/")


def test_resolver_checks_host_names_with_a_custom_transport() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError("must not be called")

    client = GuardedClient(
        _settings(), transport=httpx.MockTransport(handler), resolver=lambda host, port: ["10.1.2.3"]
    )
    with client, pytest.raises(BlockedAddress):
        client.get("https://intranet.example/")


def test_allowed_private_network_by_setting() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"ok")

    with _client(handler, allow_private_networks="127.0.0.0/8") as client:
        assert client.get("http://127.0.0.1:8000/").body == b"ok"
    with _client(handler, allow_private_networks="true") as client:
        assert client.get("http://10.0.0.1/").body == b"ok"


# ----------------------------------------------------------------------------- pinned backend (no sockets)


def test_pinned_backend_blocks_before_connecting() -> None:
    backend = PinnedBackend(False, resolver=lambda host, port: ["127.0.0.1"])
    with pytest.raises(BlockedAddress):
        backend.connect_tcp("rebind.example", 80)


def test_pinned_backend_blocks_mixed_answers() -> None:
    backend = PinnedBackend(False, resolver=lambda host, port: ["93.184.215.14", "10.0.0.7"])
    with pytest.raises(BlockedAddress):
        backend.connect_tcp("rebind.example", 80)


def test_pinned_backend_normalises_numeric_hosts() -> None:
    backend = PinnedBackend(False, resolver=lambda host, port: pytest.fail("literal must not be resolved"))
    with pytest.raises(BlockedAddress):
        backend.connect_tcp("2130706433", 80)


def test_pinned_backend_resolution_failure() -> None:
    def fail(host: str, port: int) -> list[str]:
        raise OSError("no such host")

    with pytest.raises(httpcore.ConnectError):
        PinnedBackend(False, resolver=fail).connect_tcp("nowhere.example", 80)


def test_default_client_blocks_localhost_by_resolution() -> None:
    with GuardedClient(_settings(), resolver=lambda host, port: ["127.0.0.1"]) as client:
        with pytest.raises(BlockedAddress):
            client.get("http://looks-public.example/")


# ----------------------------------------------------------------------------- protocol behaviour


def test_conditional_get_and_user_agent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["user-agent"].startswith("Communique/")
        if request.headers.get("if-none-match") == '"v1"':
            assert request.headers["if-modified-since"] == "Wed, 21 Oct 2015 07:28:00 GMT"
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return httpx.Response(200, content=b"<rss/>", headers={"ETag": '"v1"'})

    with _client(handler) as client:
        first = client.get("https://mfa.example/rss")
        assert first.status == 200
        assert first.body == b"<rss/>"
        assert first.headers["etag"] == '"v1"'
        second = client.get(
            "https://mfa.example/rss", etag='"v1"', last_modified="Wed, 21 Oct 2015 07:28:00 GMT"
        )
        assert second.status == 304
        assert second.body == b""


def test_redirect_chain_is_followed_and_recorded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/a":
            return httpx.Response(301, headers={"Location": "/b"})
        if path == "/b":
            return httpx.Response(302, headers={"Location": "https://www.mfa.example/c"})
        return httpx.Response(200, content=b"done")

    with _client(handler) as client:
        doc = client.get("https://mfa.example/a")
    assert doc.url == "https://mfa.example/a"
    assert doc.final_url == "https://www.mfa.example/c"
    assert doc.body == b"done"


def test_endless_redirects() -> None:
    count = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal count
        count += 1
        return httpx.Response(302, headers={"Location": f"/loop{count}"})

    with _client(handler, max_redirects=3) as client, pytest.raises(TooManyRedirects):
        client.get("https://mfa.example/")
    assert count == 4


def test_redirect_without_location() -> None:
    with _client(lambda r: httpx.Response(302)) as client, pytest.raises(FetchError):
        client.get("https://mfa.example/")


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [(429, "120", 120.0), (503, "Fri, 31 Dec 1999 23:59:59 GMT", 0.0), (500, None, None), (404, None, None)],
)
def test_status_errors_carry_retry_after(status: int, header: str | None, expected: float | None) -> None:
    headers = {"Retry-After": header} if header else {}
    with _client(lambda r: httpx.Response(status, headers=headers)) as client:
        with pytest.raises(HTTPStatusError) as info:
            client.get("https://mfa.example/")
    assert info.value.status == status
    assert info.value.retry_after == expected


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after("30", now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 12:02:00 GMT", now) == 120.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


@pytest.mark.parametrize(
    "url", ["http://xn--a.com/", "http://[::1/", "http://example.com:99999/", "nonsense"]
)
def test_malformed_urls_become_fetch_errors(url: str) -> None:
    with _client(lambda r: httpx.Response(200)) as client, pytest.raises(FetchError):
        client.get(url)


def test_network_errors_become_fetch_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with _client(handler) as client, pytest.raises(FetchError):
        client.get("https://mfa.example/")


def test_gzip_and_brotli_bodies_are_decoded() -> None:
    page = "<p>Привет</p>".encode() * 100
    bodies = {"/gz": (gzip.compress(page), "gzip"), "/br": (brotli.compress(page), "br")}
    bodies["/deflate"] = (zlib.compress(page), "deflate")
    raw = zlib.compressobj(wbits=-15)
    bodies["/raw-deflate"] = (raw.compress(page) + raw.flush(), "deflate")

    def handler(request: httpx.Request) -> httpx.Response:
        body, coding = bodies[request.url.path]
        return httpx.Response(200, content=body, headers={"Content-Encoding": coding})

    with _client(handler) as client:
        for path in bodies:
            doc = client.get(f"https://mfa.example{path}")
            assert doc.body == page, path
            assert "content-encoding" not in doc.headers


def test_unknown_content_encoding() -> None:
    handler = lambda r: httpx.Response(200, content=b"x", headers={"Content-Encoding": "zstd"})  # noqa: E731
    with _client(handler) as client, pytest.raises(FetchError):
        client.get("https://mfa.example/")


# ----------------------------------------------------------------------------- size cap and bombs


def _gzip_zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(chunk)
    for _ in range(total // chunk):
        out = comp.compress(zeros)
        if out:
            yield out
    yield comp.flush()


def _brotli_zeros(total: int, chunk: int = 1 << 20) -> Iterator[bytes]:
    comp = brotli.Compressor(quality=1)
    zeros = bytes(chunk)
    for _ in range(total // chunk):
        out = comp.process(zeros) + comp.flush()
        if out:
            yield out
    yield comp.finish()


@pytest.mark.parametrize(("coding", "gen"), [("gzip", _gzip_zeros), ("br", _brotli_zeros)])
def test_compression_bomb_aborts_early_with_bounded_memory(
    coding: str, gen: Callable[[int], Iterator[bytes]]
) -> None:
    stream = _Stream(gen(1 << 30))  # 1 GiB of zeros, compressed lazily

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream, headers={"Content-Encoding": coding})

    tracemalloc.start()
    try:
        with _client(handler, max_body_bytes=2 * 1024 * 1024) as client, pytest.raises(TooLarge):
            client.get("https://mfa.example/bomb")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 1024 * 1024, peak
    assert stream.pulled < 200  # a few MiB of decoded data, not 1 GiB


def test_oversize_identity_body_chunked() -> None:
    stream = _Stream(iter([b"x" * 65536] * 1000))
    handler = lambda r: httpx.Response(200, stream=stream)  # noqa: E731
    with _client(handler, max_body_bytes=100_000) as client, pytest.raises(TooLarge):
        client.get("https://mfa.example/big")
    assert stream.pulled <= 3


def test_declared_length_over_cap_is_refused_before_reading() -> None:
    stream = _Stream(iter([b"x"]))
    handler = lambda r: httpx.Response(200, stream=stream, headers={"Content-Length": "999999999"})  # noqa: E731
    with _client(handler, max_body_bytes=1000) as client, pytest.raises(TooLarge):
        client.get("https://mfa.example/big")
    assert stream.pulled == 0


def test_corrupt_gzip() -> None:
    handler = lambda r: httpx.Response(200, content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"})  # noqa: E731
    with _client(handler) as client, pytest.raises(FetchError):
        client.get("https://mfa.example/")


# ----------------------------------------------------------------------------- deadline


def test_dripping_body_is_cut_by_the_overall_deadline() -> None:
    def drip() -> Iterator[bytes]:
        for _ in range(100):
            time.sleep(0.1)
            yield b"x"

    handler = lambda r: httpx.Response(200, stream=_Stream(drip()))  # noqa: E731
    started = time.monotonic()
    with _client(handler, fetch_deadline_s=0.5) as client, pytest.raises(DeadlineExceeded):
        client.get("https://mfa.example/slow")
    assert time.monotonic() - started < 2.0


def test_slow_redirect_hops_share_one_deadline() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        time.sleep(0.3)
        return httpx.Response(302, headers={"Location": "/again"})

    with _client(handler, fetch_deadline_s=0.5, max_redirects=10) as client, pytest.raises(DeadlineExceeded):
        client.get("https://mfa.example/")


# ----------------------------------------------------------------------------- charset


def test_decode_text_cases() -> None:
    text = "Министерство иностранных дел Республики Беларусь сообщает о встрече министров. " * 5
    cp1251 = text.encode("cp1251")
    assert decode_text(text.encode()) == text
    assert decode_text(text.encode(), "text/html; charset=iso-8859-1") == text  # mislabelled UTF-8
    assert decode_text(cp1251, "text/html; charset=windows-1251") == text
    assert decode_text(cp1251, "text/html; charset=utf-8") == text  # mislabelled, detected
    meta = b'<html><head><meta charset="windows-1251"></head><body>' + cp1251 + b"</body></html>"
    assert text in decode_text(meta)
    assert decode_text(b"\xef\xbb\xbfabc") == "abc"
    assert decode_text("abc".encode("utf-16")) == "abc"
    assert isinstance(decode_text(b"\xff\xfe\xfa invalid \x80\x81"), str)
    assert decode_text(b"") == ""


def test_decode_text_utf8_with_stray_bytes_stays_utf8() -> None:
    text = "Министр иностранных дел провёл переговоры. " * 50
    body = text.encode() + b"\xff" + text.encode()
    out = decode_text(body, "text/html; charset=utf-8")
    assert out.startswith(text)
    assert out.count("\ufffd") == 1
    assert decode_text(body).startswith(text)  # undeclared: same

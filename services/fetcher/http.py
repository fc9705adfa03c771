"""The guarded HTTP client: every fetch of a source, article or robots.txt goes through ``GuardedClient``.

Guarantees of ``GuardedClient.get``:

* only ``http`` and ``https``; legacy numeric IPv4 spellings (``2130706433``, ``0177.0.0.1``, ``0x7f.1``) are
  normalised to dotted quads before any check;
* SSRF guard on the address actually connected to, on every hop: the default transport resolves the host
  itself, checks *every* answer against ``BLOCKED_NETWORKS`` (an explicit list, not ``ipaddress.is_private``),
  and connects to the checked address (TLS still verifies and sends SNI for the host name), so a DNS answer
  that changes between check and connect cannot bypass it. ``settings.private_networks_allowed`` lifts the
  block (True) or lifts it for listed networks only;
* redirects followed by hand, at most ``settings.max_redirects``;
* an overall wall-clock deadline (``settings.fetch_deadline_s``) across connects, reads and hops: every socket
  read gets ``min(read timeout, time left)``, and the time is checked between chunks;
* the decoded body is capped at ``settings.max_body_bytes``: content codings (gzip, deflate, br) are decoded
  here with bounded output per step, so a compression bomb is aborted as soon as the cap is passed, memory
  bounded;
* conditional GET (``If-None-Match`` / ``If-Modified-Since`` passed verbatim) and an honest User-Agent.

Exceptions::

    FetchError                  any failure to fetch (network, protocol, bad URL)
     ├── BlockedAddress         scheme not allowed, or the host resolves to a blocked address
     ├── TooLarge               decoded body passed the cap
     ├── DeadlineExceeded       the overall deadline passed
     ├── TooManyRedirects
     └── HTTPStatusError        a final status other than 2xx/304; ``status`` and ``retry_after`` (seconds)

With a custom ``transport`` (tests: ``httpx.MockTransport``) nothing is connected to, so host names are
checked only when a ``resolver`` is passed too; literal IP addresses are always checked.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import brotli
import httpcore
import httpx
from charset_normalizer import from_bytes

from services.core.domain import FetchedDoc
from services.core.settings import Settings

__all__ = [
    "BLOCKED_NETWORKS",
    "BlockedAddress",
    "DeadlineExceeded",
    "FetchError",
    "GuardedClient",
    "HTTPStatusError",
    "Resolver",
    "TooLarge",
    "TooManyRedirects",
    "check_address",
    "decode_text",
    "normalize_host",
    "guarded_transport",
    "parse_retry_after",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class FetchError(Exception):
    """A fetch failed; the message says why."""


class BlockedAddress(FetchError):
    """The URL's scheme is not http/https, or its host is (or resolves to) a blocked address."""


class TooLarge(FetchError):
    """The decoded body passed ``settings.max_body_bytes``."""


class DeadlineExceeded(FetchError):
    """The overall deadline of the fetch passed."""


class TooManyRedirects(FetchError):
    """More than ``settings.max_redirects`` redirects."""


class HTTPStatusError(FetchError):
    """The server answered with an error status; ``retry_after`` is in seconds when the server sent one."""

    def __init__(self, status: int, retry_after: float | None = None, url: str | None = None) -> None:
        super().__init__(f"HTTP {status}" + (f" for {url}" if url else ""))
        self.status = status
        self.retry_after = retry_after
        self.url = url


# --------------------------------------------------------------------------- address policy

_V4_BLOCKED = [
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes 255.255.255.255
    )
]
_V6_BLOCKED = [
    ipaddress.IPv6Network(n)
    for n in (
        "::/96",  # unspecified, loopback, deprecated IPv4-compatible
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo 2001::/32 among them)
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
]
BLOCKED_NETWORKS: tuple[IPNetwork, ...] = (*_V4_BLOCKED, *_V6_BLOCKED)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip in _MAPPED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    return None


def _allowed(ip: IPAddress, allowed: bool | list[IPNetwork]) -> bool:
    if allowed is True:
        return True
    if allowed is False:
        return False
    return any(ip.version == net.version and ip in net for net in allowed)


def check_address(address: str | IPAddress, allowed: bool | list[IPNetwork] = False) -> None:
    """Raise ``BlockedAddress`` if connecting to ``address`` is not allowed.

    Heuristic: an address is blocked when it lies in ``BLOCKED_NETWORKS`` (loopback, private, link-local,
    CGNAT, multicast, reserved, documentation, benchmarking, ...) or, for IPv4-mapped, NAT64 and 6to4 IPv6
    forms, when the embedded IPv4 address is blocked. ``allowed`` (from ``settings.private_networks_allowed``)
    lifts the block for everything (True) or for addresses inside the listed networks; for an embedded form,
    either the IPv6 address or its embedded IPv4 address may be listed.
    """
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        v4 = _embedded_v4(ip)
        if v4 is not None:
            candidates.append(v4)
    blocked = [c for c in candidates if any(c.version == n.version and c in n for n in BLOCKED_NETWORKS)]
    if not blocked:
        return
    if any(_allowed(c, allowed) for c in candidates):
        return
    raise BlockedAddress(f"address {ip} is not allowed (blocked network)")


_LEGACY_V4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.IGNORECASE)


def normalize_host(host: str) -> str:
    """A host as the resolver would read it: legacy numeric IPv4 forms (decimal ``2130706433``, octal
    ``0177.0.0.1``, hex ``0x7f.1``, short ``127.1``) become dotted quads; IPv6 literals lose brackets and
    zone; names are lower-cased without a trailing dot."""
    h = unquote(host).strip().strip("[]").lower()  # WHATWG hosts are percent-decoded before parsing
    if ":" in h:
        return str(ipaddress.IPv6Address(h.split("%", 1)[0]))
    if _LEGACY_V4.match(h):
        try:
            return socket.inet_ntoa(socket.inet_aton(h.rstrip(".")))
        except OSError:
            pass
    return h.rstrip(".")


def _literal_ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        addr = str(info[4][0])
        if addr not in out:
            out.append(addr)
    return out


# --------------------------------------------------------------------------- pinned, deadline-aware transport

# Monotonic deadline of the fetch running in this thread/context; the network stream reads it on every I/O.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "communique_fetch_deadline", default=None
)


def _remaining(timeout: float | None) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("overall fetch deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _remaining(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _remaining(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _remaining(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Resolves the host itself, checks every answer, then connects to a checked address (no second
    lookup)."""

    def __init__(self, allowed: bool | list[IPNetwork], resolver: Resolver | None = None) -> None:
        self._allowed = allowed
        self._resolver = resolver or _system_resolver
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        name = normalize_host(host)
        literal = _literal_ip(name)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = self._resolver(name, port)
            except OSError as exc:
                raise httpcore.ConnectError(f"cannot resolve {name}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"no address for {name}")
        for addr in addresses:  # any blocked answer blocks: a mixed answer is a rebinding attempt
            check_address(addr, self._allowed)
        last: Exception | None = None
        for addr in addresses:
            try:
                stream = self._inner.connect_tcp(
                    addr,
                    port,
                    _remaining(timeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
                return _DeadlineStream(stream)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not allowed")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def _pinned_transport(
    allowed: bool | list[IPNetwork], resolver: Resolver | None, ssl_context: ssl.SSLContext | None
) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport(trust_env=False, retries=0)
    # httpx has no public hook for the network backend; its pool is a plain httpcore.ConnectionPool.
    transport._pool = httpcore.ConnectionPool(  # noqa: SLF001
        ssl_context=ssl_context or httpx.create_ssl_context(),
        max_connections=20,
        max_keepalive_connections=10,
        keepalive_expiry=5.0,
        http1=True,
        http2=False,
        retries=0,
        network_backend=PinnedBackend(allowed, resolver),
    )
    return transport


def guarded_transport(settings: Settings, resolver: Resolver | None = None) -> httpx.HTTPTransport:
    """A transport with the SSRF guard of ``GuardedClient`` (pinned, checked addresses per
    ``settings.private_networks_allowed``) for clients that are not fetches, e.g. outgoing webhooks. A blocked
    address raises ``BlockedAddress`` from the request."""
    return _pinned_transport(settings.private_networks_allowed, resolver, None)


# --------------------------------------------------------------------------- content decoding

_STEP = 64 * 1024


class _Decoder(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _Identity:
    def feed(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zlib:
    """gzip / deflate with bounded output per step (``max_length``), so a bomb never expands in one call."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._raw_fallback = not gzip
        self._d = zlib.decompressobj(wbits=(16 + zlib.MAX_WBITS) if gzip else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        if not self._started and self._raw_fallback:
            self._started = True
            # "deflate" is often sent as a raw deflate stream without the zlib header.
            if data[0] & 0x0F != 8:
                self._d = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
        self._started = True
        buf = data
        while True:
            try:
                out = self._d.decompress(buf, _STEP)
            except zlib.error as exc:
                raise FetchError(f"corrupt compressed body: {exc}") from exc
            if out:
                yield out
            buf = self._d.unconsumed_tail
            if self._d.eof:
                return  # trailing garbage after the stream is ignored, as browsers do
            if not buf and len(out) < _STEP:
                return

    def flush(self) -> Iterator[bytes]:
        out = self._d.flush()
        if out:
            yield out


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            out = self._d.process(data, output_buffer_limit=_STEP)
            if out:
                yield out
            while not self._d.can_accept_more_data():
                out = self._d.process(b"", output_buffer_limit=_STEP)
                if not out:
                    break
                yield out
        except brotli.error as exc:
            raise FetchError(f"corrupt brotli body: {exc}") from exc

    def flush(self) -> Iterator[bytes]:
        return iter(())


def _decoders(content_encoding: str) -> list[_Decoder]:
    out: list[_Decoder] = []
    for coding in (c.strip().lower() for c in content_encoding.split(",")):
        if coding in ("", "identity"):
            continue
        if coding in ("gzip", "x-gzip"):
            out.append(_Zlib(gzip=True))
        elif coding == "deflate":
            out.append(_Zlib(gzip=False))
        elif coding == "br":
            out.append(_Brotli())
        else:
            raise FetchError(f"unsupported content-encoding {coding!r}")
    out.reverse()  # codings are listed in the order applied; undo the last one first
    return out or [_Identity()]


def _pipe(decoders: list[_Decoder], chunk: bytes, final: bool = False) -> Iterator[bytes]:
    def run(i: int, data: bytes, fin: bool) -> Iterator[bytes]:
        if i == len(decoders):
            if data:
                yield data
            return
        for piece in decoders[i].feed(data):
            yield from run(i + 1, piece, False)
        if fin:
            for piece in decoders[i].flush():
                yield from run(i + 1, piece, False)
            yield from run(i + 1, b"", True)

    yield from run(0, chunk, final)


# --------------------------------------------------------------------------- helpers


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date (a date in the past is 0).
    Unparseable values give None."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_.:-]+)""", re.IGNORECASE)
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))


def _charset_from_content_type(content_type: str | None) -> str | None:
    if not content_type:
        return None
    m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", content_type, re.IGNORECASE)
    return m.group(1) if m else None


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    import codecs

    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def decode_text(body: bytes, content_type: str | None = None) -> str:
    """Decode an HTML/XML body whose declared charset may be wrong.

    Heuristic, in order: a byte-order mark; valid UTF-8 (a non-ASCII byte sequence that decodes as UTF-8 is
    almost never anything else, and pages labelled latin-1/windows-1252 often are UTF-8); a page declared
    UTF-8 (or not declared) with at most one invalid byte per thousand stays UTF-8 with replacements; the
    charset from the Content-Type header and the one from ``<meta charset>`` if they decode without error
    (when both decode and disagree, charset_normalizer chooses between the two); otherwise
    charset_normalizer's best guess; and as a last resort UTF-8 with replacement characters. Never raises.
    """
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, errors="replace")
    utf8 = _strict(body, "utf-8")
    if utf8 is not None:
        return utf8
    header = _codec(_charset_from_content_type(content_type))
    m = _META_CHARSET.search(body[:4096])
    meta = _codec(m.group(1).decode("ascii", "replace")) if m else None
    if {header, meta} <= {"utf-8", None}:
        lenient = body.decode("utf-8", errors="replace")
        if lenient.count("\ufffd") <= max(1, len(body) // 1000) and not lenient.isascii():
            return lenient  # a UTF-8 page with a few stray bytes stays UTF-8
    options = [c for c in dict.fromkeys([header, meta]) if c and c != "utf-8"]
    decoded = {c: t for c in options if (t := _strict(body, c)) is not None}
    if len(decoded) == 1:
        return next(iter(decoded.values()))
    if len(decoded) > 1:
        best = from_bytes(body, cp_isolation=list(decoded)).best()
        if best is not None and best.encoding in decoded:
            return decoded[best.encoding]
        return decoded[options[0]]
    guess = from_bytes(body).best()
    if guess is not None:
        return str(guess)
    return body.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------- the client

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DROP_HEADERS = frozenset(
    {"content-encoding", "content-length", "transfer-encoding", "connection", "set-cookie"}
)


class GuardedClient:
    """Synchronous HTTP client enforcing the fetch policy of the module docstring. One per worker thread."""

    hop_hook = True
    """``get`` takes ``on_hop`` (the polite client checks for it: test fakes need not)."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.BaseTransport | None = None,
        *,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``resolver`` replaces the system resolver (tests); ``ssl_context`` replaces the default trust store
        (a private CA). Neither weakens the address check."""
        self._settings = settings
        self._allowed = settings.private_networks_allowed
        self._resolver = resolver
        self._custom_transport = transport is not None
        self._client = httpx.Client(
            transport=transport or _pinned_transport(self._allowed, resolver, ssl_context),
            follow_redirects=False,
            trust_env=False,
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,application/rss+xml,"
                "application/atom+xml,*/*;q=0.8",
                "Accept-Encoding": "gzip, deflate, br",
            },
        )

    def __enter__(self) -> GuardedClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- checks

    def _prepare(self, url: str) -> str:
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise FetchError(f"invalid URL {url!r}: {exc}") from exc
        if parts.scheme.lower() not in ("http", "https"):
            raise BlockedAddress(f"scheme {parts.scheme or '(none)'!r} is not allowed: {url}")
        if not parts.hostname:
            raise FetchError(f"URL without host: {url}")
        try:
            host = normalize_host(parts.hostname)
        except ValueError as exc:
            raise FetchError(f"invalid host in {url!r}") from exc
        literal = _literal_ip(host)
        if literal is not None:
            check_address(literal, self._allowed)
        elif self._custom_transport and self._resolver is not None:
            try:
                addresses = self._resolver(host, port or (443 if parts.scheme.lower() == "https" else 80))
            except OSError as exc:
                raise FetchError(f"cannot resolve {host}: {exc}") from exc
            for addr in addresses:
                check_address(addr, self._allowed)
        shown = f"[{host}]" if ":" in host else host
        netloc = f"{shown}:{port}" if port is not None else shown
        return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))

    # -- fetching

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        on_hop: Callable[[str], None] | None = None,
    ) -> FetchedDoc:
        """GET ``url`` under the fetch policy; a 2xx or 304 answer as ``FetchedDoc`` (304: empty body).
        ``on_hop(url)`` runs before each redirect hop is requested (not the first URL): the polite client's
        robots.txt and host spacing for the hop's host; it raises to stop the fetch."""
        started = time.monotonic()
        deadline = started + self._settings.fetch_deadline_s
        token = _DEADLINE.set(deadline)
        try:
            return self._get(url, deadline, etag, last_modified, on_hop)
        finally:
            _DEADLINE.reset(token)

    def _send(self, request: httpx.Request, deadline: float, url: str, what: str) -> httpx.Response:
        """Send one request; transport errors become FetchError, and a BlockedAddress raised by the network
        backend (wrapped by httpx) surfaces as itself."""
        try:
            return self._client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            self._left(deadline, url)
            raise FetchError(f"timeout {what}: {exc}") from exc
        except httpx.HTTPError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, BlockedAddress):
                raise cause from None
            raise FetchError(f"error {what}: {exc}") from exc

    def _left(self, deadline: float, url: str) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"deadline of {self._settings.fetch_deadline_s}s passed fetching {url}")
        return left

    def _get(
        self,
        url: str,
        deadline: float,
        etag: str | None,
        last_modified: str | None,
        on_hop: Callable[[str], None] | None = None,
    ) -> FetchedDoc:
        headers: dict[str, str] = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        for hop in range(self._settings.max_redirects + 1):
            target = self._prepare(current)
            if hop and on_hop is not None:
                on_hop(target)
            left = self._left(deadline, url)
            per_io = min(self._settings.fetch_read_timeout_s, left)
            try:
                request = self._client.build_request(
                    "GET", target, headers=headers, timeout=httpx.Timeout(per_io)
                )
            except (httpx.InvalidURL, ValueError) as exc:  # UnicodeError (bad IDNA) is a ValueError
                raise FetchError(f"invalid URL {current!r}: {exc}") from exc
            response = self._send(request, deadline, url, f"fetching {current}")
            try:
                status = response.status_code
                if status in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise FetchError(f"redirect {status} without Location from {current}")
                    current = urljoin(current, location.strip())
                    if hop == self._settings.max_redirects:
                        break
                    continue
                if status == 304:
                    return self._doc(url, current, response, b"")
                if not 200 <= status < 300:
                    raise HTTPStatusError(
                        status, parse_retry_after(response.headers.get("retry-after")), url=current
                    )
                body = self._read_body(response, deadline, url)
                return self._doc(url, current, response, body)
            finally:
                response.close()
        raise TooManyRedirects(f"more than {self._settings.max_redirects} redirects from {url}")

    def post_form(self, url: str, data: dict[str, str]) -> FetchedDoc:
        """POST a form (a WebSub hub request) under the same address checks, deadline and size cap as
        ``get``; redirects are not followed (a hub answers 202 or an error)."""
        started = time.monotonic()
        deadline = started + self._settings.fetch_deadline_s
        token = _DEADLINE.set(deadline)
        try:
            target = self._prepare(url)
            per_io = min(self._settings.fetch_read_timeout_s, self._left(deadline, url))
            try:
                request = self._client.build_request(
                    "POST", target, data=data, timeout=httpx.Timeout(per_io)
                )
            except (httpx.InvalidURL, ValueError) as exc:
                raise FetchError(f"invalid URL {url!r}: {exc}") from exc
            response = self._send(request, deadline, url, f"posting to {url}")
            try:
                if not 200 <= response.status_code < 300:
                    raise HTTPStatusError(
                        response.status_code, parse_retry_after(response.headers.get("retry-after")), url=url
                    )
                return self._doc(url, url, response, self._read_body(response, deadline, url))
            finally:
                response.close()
        finally:
            _DEADLINE.reset(token)

    def _read_body(self, response: httpx.Response, deadline: float, url: str) -> bytes:
        cap = self._settings.max_body_bytes
        encoding = response.headers.get("content-encoding", "")
        declared = response.headers.get("content-length", "")
        if not encoding.strip() and declared.isdigit() and int(declared) > cap:
            raise TooLarge(f"Content-Length {declared} exceeds the cap of {cap} bytes: {url}")
        decoders = _decoders(encoding)
        parts: list[bytes] = []
        size = 0
        try:
            # The stream itself rather than iter_raw(): a body httpx has already buffered (MockTransport
            # responses built from bytes) can be iterated again; every decoder step is bounded anyway.
            stream = response.stream
            assert isinstance(stream, httpx.SyncByteStream)
            for raw in stream:
                self._left(deadline, url)
                for piece in _pipe(decoders, raw):
                    size += len(piece)
                    if size > cap:
                        raise TooLarge(f"decoded body exceeds the cap of {cap} bytes: {url}")
                    parts.append(piece)
                    self._left(deadline, url)
            for piece in _pipe(decoders, b"", final=True):
                size += len(piece)
                if size > cap:
                    raise TooLarge(f"decoded body exceeds the cap of {cap} bytes: {url}")
                parts.append(piece)
        except httpx.TimeoutException as exc:
            self._left(deadline, url)
            raise FetchError(f"timeout reading {url}: {exc}") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"error reading {url}: {exc}") from exc
        return b"".join(parts)

    @staticmethod
    def _doc(url: str, final_url: str, response: httpx.Response, body: bytes) -> FetchedDoc:
        headers = {k.lower(): v for k, v in response.headers.items() if k.lower() not in _DROP_HEADERS}
        return FetchedDoc(
            url=url,
            final_url=final_url,
            status=response.status_code,
            headers=headers,
            body=body,
            fetched_at=datetime.now(UTC),
        )

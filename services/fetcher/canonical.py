"""Canonical URLs: one spelling per document, so that re-polls, feeds and listings dedupe on the URL.

The heuristic (``canonical_url``):

* scheme and host are lower-cased, a trailing dot on the host is dropped, IDN hosts become punycode (a
  non-ASCII host that is not a valid IDN is percent-encoded, in lower case);
* user info (``user:pass@``) is dropped: it never identifies a document and must not be stored;
* default ports (80 for http, 443 for https) are removed;
* the fragment is removed (it never reaches the server);
* tracking parameters (``utm_*``, ``fbclid``, ``gclid``, ``yclid``, ``mc_cid`` ... see ``TRACKING_PARAMS``)
  are removed, the remaining query parameters are sorted; each parameter is kept verbatim apart from
  percent-escape normalisation, so a bare key (``sub.en.mfa?ad9093da-...``, no ``=``) stays a bare key;
* the path is percent-encoded where it holds unsafe characters (spaces, non-ASCII), escapes are upper-cased,
  and an empty path becomes ``/``.

The function is idempotent: ``canonical_url(canonical_url(u)) == canonical_url(u)``. It does not guess at
site-specific equivalences (``www.`` prefix, trailing slashes, ``index.html``): those differ per site.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["TRACKING_PARAMS", "TRACKING_PREFIXES", "canonical_url", "is_tracking_param"]

TRACKING_PREFIXES: tuple[str, ...] = ("utm_", "mtm_", "pk_", "piwik_", "matomo_", "hsa_")
TRACKING_PARAMS: frozenset[str] = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "yclid",
        "ysclid",
        "msclkid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "_ga",
        "_gl",
        "_openstat",
        "vero_id",
        "vero_conv",
        "wickedid",
        "s_cid",
        "ncid",
        "cmpid",
        "xtor",
        "sr_share",
        "__twitter_impression",
        "hsctatracking",
        "spm",
        "ref_src",
        "_hsenc",
        "_hsmi",
        "oly_anon_id",
        "oly_enc_id",
        "at_medium",
        "at_campaign",
        "at_source",
    }
)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_ESCAPE_RE = re.compile(r"%[0-9a-fA-F]{2}")
# RFC 3986 pchar plus "/" and an existing "%": quoting with these safe characters is idempotent.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = "/?:@!$'()*+,;=-._~%"


def is_tracking_param(key: str) -> bool:
    """True for a query parameter that only identifies a campaign or click, never the document."""
    k = key.lower()
    return k in TRACKING_PARAMS or k.startswith(TRACKING_PREFIXES)


def _upper_escapes(s: str) -> str:
    return _ESCAPE_RE.sub(lambda m: m.group(0).upper(), s)


def _quote(s: str, safe: str) -> str:
    # A lone "%" that does not start an escape would be read back as one later: encode it now.
    s = re.sub(r"%(?![0-9a-fA-F]{2})", "%25", s)
    return _upper_escapes(quote(s, safe=safe))


def _host(hostname: str) -> str:
    host = hostname.strip().rstrip(".").lower()
    if host and not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            # Not a valid IDN: percent-encode it, in lower case like any host (urlsplit lower-cases the host
            # it reads back, so upper-case escapes would not survive a second pass).
            host = _quote(host, safe="").lower()
    return host


def canonical_url(url: str) -> str:
    """The canonical spelling of ``url`` (see the module docstring for the rules). Non-URLs come back
    stripped."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if not parts.netloc:
        return url
    host = _host(parts.hostname or "")
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{host}:{port}"
    path = _quote(parts.path, _PATH_SAFE) or "/"
    kept: list[tuple[str, str]] = []
    for raw in parts.query.split("&"):
        if not raw:
            continue
        part = _quote(raw, _QUERY_SAFE + "=")
        key = part.split("=", 1)[0]
        if is_tracking_param(unquote(key.replace("+", " "))):
            continue
        kept.append((key, part))
    kept.sort()
    query = "&".join(p for _, p in kept)
    return urlunsplit((scheme, netloc, path, query, ""))

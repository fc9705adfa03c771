"""robots.txt with RFC 9309 semantics. Pure: the caller fetches ``/robots.txt`` (following up to five
redirects) and caches the resulting ``RobotsPolicy``; this module only decides.

* 2xx: the rules apply (the first 500 KiB are parsed, as the RFC allows);
* 4xx (404, 403, 410 ...): no restrictions — "allow all";
* 5xx or unreachable (``status=None``): the site is treated as fully disallowed until the next check;
* group selection: the group whose user-agent is a case-insensitive match of our product token (the first word
  of the User-Agent, ``Communique``), else the ``*`` group; several groups for the same agent are merged;
* rule matching: the longest matching path pattern wins; on equal length ``allow`` wins; ``*`` matches any
  run of characters and a trailing ``$`` anchors the end; the path is compared with its query string;
* ``Crawl-delay`` (not in the RFC, but widely used) is exposed so the caller can widen host spacing.

urllib.robotparser is not used: it takes the first matching rule rather than the longest, and has no
wildcards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

__all__ = ["MAX_ROBOTS_BYTES", "RobotsPolicy", "parse_robots", "product_token"]

MAX_ROBOTS_BYTES = 500 * 1024


@dataclass(frozen=True, slots=True)
class _Rule:
    allow: bool
    pattern: str
    regex: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class RobotsPolicy:
    """The rules of one host for one user agent. ``allow_all``/``disallow_all`` short-cut the rules."""

    rules: tuple[_Rule, ...] = ()
    allow_all: bool = False
    disallow_all: bool = False
    crawl_delay: float | None = None
    sitemaps: tuple[str, ...] = field(default=())

    def allowed(self, url: str) -> bool:
        """May ``url`` (on this policy's host) be fetched?"""
        if self.disallow_all:
            return False
        if self.allow_all:
            return True
        parts = urlsplit(url)
        path = _normalise(parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if path == "/robots.txt":
            return True
        best: _Rule | None = None
        for rule in self.rules:
            if rule.regex.match(path) is None:
                continue
            if (
                best is None
                or len(rule.pattern) > len(best.pattern)
                or (len(rule.pattern) == len(best.pattern) and rule.allow and not best.allow)
            ):
                best = rule
        return best is None or best.allow


def product_token(user_agent: str) -> str:
    """The product token of a User-Agent string (``Communique/0.1 (+url)`` → ``communique``)."""
    token = re.split(r"[/\s]", user_agent.strip(), maxsplit=1)[0]
    return token.lower()


def _normalise(path: str) -> str:
    # Compare in one percent-encoding: decode, then re-encode everything outside the reserved/unreserved set.
    return quote(unquote(path), safe="/:@!$&'()*+,;=-._~?%")


def _compile(pattern: str) -> re.Pattern[str]:
    anchored = pattern.endswith("$")
    body = pattern[:-1] if anchored else pattern
    regex = ".*".join(re.escape(part) for part in _normalise(body).split("*"))
    return re.compile(regex + ("$" if anchored else ""))


def parse_robots(status: int | None, body: bytes | str | None, user_agent: str) -> RobotsPolicy:
    """The policy for ``user_agent`` from a robots.txt fetch result (see the module docstring)."""
    if status is None or status >= 500:
        return RobotsPolicy(disallow_all=True)
    if 400 <= status < 500:
        return RobotsPolicy(allow_all=True)
    if not 200 <= status < 300 or body is None:
        return RobotsPolicy(allow_all=True)
    if isinstance(body, bytes):
        body = body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
    else:
        body = body[:MAX_ROBOTS_BYTES]
    me = product_token(user_agent)
    groups: list[tuple[set[str], list[tuple[str, str]]]] = []
    current: tuple[set[str], list[tuple[str, str]]] | None = None
    last_was_agent = False
    sitemaps: list[str] = []
    for raw in body.splitlines():
        line = raw.split("#", 1)[0].strip()
        if ":" not in line:
            continue
        key, value = (s.strip() for s in line.split(":", 1))
        key = key.lower()
        if key == "user-agent":
            if current is None or not last_was_agent:
                current = (set(), [])
                groups.append(current)
            current[0].add(value.lower())
            last_was_agent = True
            continue
        if key == "sitemap":
            sitemaps.append(value)
            continue
        last_was_agent = False
        if current is not None and key in ("allow", "disallow", "crawl-delay"):
            current[1].append((key, value))
    chosen = [g for g in groups if me in g[0]] or [g for g in groups if "*" in g[0]]
    rules: list[_Rule] = []
    delay: float | None = None
    for _, lines in chosen:
        for key, value in lines:
            if key == "crawl-delay":
                try:
                    delay = float(value)
                except ValueError:
                    pass
            elif value:  # an empty Disallow/Allow matches nothing
                pattern = value if value.startswith(("/", "*")) else "/" + value
                rules.append(_Rule(allow=key == "allow", pattern=pattern, regex=_compile(pattern)))
    return RobotsPolicy(rules=tuple(rules), crawl_delay=delay, sitemaps=tuple(sitemaps))

from __future__ import annotations

import pytest

from services.fetcher.robots import MAX_ROBOTS_BYTES, parse_robots, product_token

UA = "Communique/0.1 (+https://github.com/communique-news/communique; diplomatic news monitor)"

ROBOTS = """\
# comment
User-agent: *
Disallow: /private/
Disallow: /*.pdf$
Allow: /private/press/
Crawl-delay: 5

User-agent: BadBot
Disallow: /

Sitemap: https://mfa.example/sitemap.xml
"""


def test_product_token() -> None:
    assert product_token(UA) == "communique"
    assert product_token("Googlebot") == "googlebot"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/", True),
        ("/news/1", True),
        ("/private/x", False),
        ("/private/press/1", True),  # longer Allow wins
        ("/files/report.pdf", False),
        ("/files/report.pdf?x=1", True),  # $ anchors the end
        ("/robots.txt", True),
    ],
)
def test_star_group_rules(path: str, allowed: bool) -> None:
    policy = parse_robots(200, ROBOTS, UA)
    assert policy.allowed(f"https://mfa.example{path}") is allowed
    assert policy.crawl_delay == 5
    assert policy.sitemaps == ("https://mfa.example/sitemap.xml",)


def test_specific_group_wins_and_groups_merge() -> None:
    text = """\
User-agent: *
Disallow: /

User-agent: communique
User-agent: otherbot
Disallow: /drafts/

User-agent: Communique
Disallow: /tmp/
"""
    policy = parse_robots(200, text.encode(), UA)
    assert policy.allowed("https://mfa.example/news")
    assert not policy.allowed("https://mfa.example/drafts/1")
    assert not policy.allowed("https://mfa.example/tmp/1")
    assert not parse_robots(200, text, "OtherCrawler/1.0").allowed("https://mfa.example/news")


def test_equal_length_allow_wins() -> None:
    policy = parse_robots(200, "User-agent: *\nDisallow: /page\nAllow: /page\n", UA)
    assert policy.allowed("https://mfa.example/page")


def test_empty_disallow_allows_everything() -> None:
    assert parse_robots(200, "User-agent: *\nDisallow:\n", UA).allowed("https://mfa.example/x")


def test_percent_encoding_is_compared_normalised() -> None:
    policy = parse_robots(200, "User-agent: *\nDisallow: /новости/\n", UA)
    assert not policy.allowed("https://mfa.example/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/1")


@pytest.mark.parametrize(("status", "allowed"), [(404, True), (403, True), (410, True), (401, True)])
def test_4xx_means_allow_all(status: int, allowed: bool) -> None:
    assert parse_robots(status, None, UA).allowed("https://mfa.example/anything") is allowed


@pytest.mark.parametrize("status", [500, 502, 503, None])
def test_5xx_or_unreachable_means_disallow_all(status: int | None) -> None:
    assert not parse_robots(status, None, UA).allowed("https://mfa.example/")


def test_html_instead_of_robots_allows() -> None:
    # fmprc.gov.cn redirects robots.txt to an HTML page: no rules
    assert parse_robots(200, "<html><body>Welcome</body></html>", UA).allowed("https://mfa.example/x")


def test_oversized_file_is_truncated() -> None:
    body = ("User-agent: *\nDisallow: /a/\n" + "# padding\n" * (MAX_ROBOTS_BYTES // 10)).encode()
    body += b"Disallow: /late/\n"
    policy = parse_robots(200, body, UA)
    assert not policy.allowed("https://mfa.example/a/1")
    assert policy.allowed("https://mfa.example/late/1")

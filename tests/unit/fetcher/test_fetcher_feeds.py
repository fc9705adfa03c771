from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime

import pytest

from services.fetcher.feeds import FeedError, check_xml_prologue, parse_feed, read_feed

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>Ministry news</title>
  <link>https://mfa.example/</link>
  <ttl>30</ttl>
  <atom:link rel="hub" href="https://pubsubhubbub.appspot.com/"/>
  <atom:link rel="self" href="https://mfa.example/rss.xml"/>
  <item>
    <title>Minister met his counterpart</title>
    <link>/en/news/1?utm_source=rss&amp;utm_medium=feed</link>
    <guid isPermaLink="false">news-1</guid>
    <pubDate>Mon, 02 Nov 2020 10:00:00 +0300</pubDate>
  </item>
  <item>
    <title>Telephone conversation</title>
    <link>https://mfa.example/en/news/2#top</link>
    <guid>news-2</guid>
    <pubDate>not a date</pubDate>
  </item>
  <item>
    <title>No GUID here</title>
    <link>https://mfa.example/en/news/3</link>
  </item>
  <item><title>Same GUID A</title><link>https://mfa.example/en/news/4</link><guid>dup</guid></item>
  <item><title>Same GUID B</title><link>https://mfa.example/en/news/5</link><guid>dup</guid></item>
  <item><title>Script link</title><link>javascript:alert(1)</link></item>
  <item><title>No link</title><description>text</description></item>
  <item><title>Repeated</title><link>https://mfa.example/en/news/3</link></item>
</channel>
</rss>
"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://www.gov.uk/">
  <title>FCDO</title>
  <link rel="hub" href="https://hub.example/"/>
  <entry>
    <id>tag:www.gov.uk,2005:/government/news/a</id>
    <title>Foreign Secretary meets</title>
    <link rel="alternate" type="text/html" href="https://www.gov.uk/government/news/a"/>
    <updated>2024-03-01T10:00:00+00:00</updated>
  </entry>
  <entry>
    <id>tag:www.gov.uk,2005:/government/news/b</id>
    <title>Call with counterpart</title>
    <link href="/government/news/b"/>
    <published>2024-03-02T09:30:00Z</published>
    <updated>2024-03-03T00:00:00Z</updated>
  </entry>
</feed>
"""


def test_rss_items() -> None:
    feed = read_feed(RSS, "https://mfa.example/rss.xml")
    by_url = {i.url: i for i in feed.items}
    first = by_url["https://mfa.example/en/news/1"]
    assert first.guid == "news-1"
    assert first.title == "Minister met his counterpart"
    assert first.published == datetime(2020, 11, 2, 7, 0, tzinfo=UTC)
    assert by_url["https://mfa.example/en/news/2"].published is None
    assert by_url["https://mfa.example/en/news/3"].guid == "https://mfa.example/en/news/3"
    # a GUID shared by several items identifies none of them: the link takes over
    assert by_url["https://mfa.example/en/news/4"].guid == "https://mfa.example/en/news/4"
    assert by_url["https://mfa.example/en/news/5"].guid == "https://mfa.example/en/news/5"
    assert all(i.url.startswith("https://") for i in feed.items)
    assert len(feed.items) == 5
    assert feed.ttl_s == 1800
    assert feed.hub == "https://pubsubhubbub.appspot.com/"
    assert feed.self_url == "https://mfa.example/rss.xml"
    assert feed.title == "Ministry news"


def test_atom_items() -> None:
    items = parse_feed(ATOM, "https://www.gov.uk/government/organisations/fcdo.atom")
    assert [i.url for i in items] == [
        "https://www.gov.uk/government/news/a",
        "https://www.gov.uk/government/news/b",
    ]
    assert items[0].guid == "tag:www.gov.uk,2005:/government/news/a"
    assert items[0].published == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)  # updated when no published
    assert items[1].published == datetime(2024, 3, 2, 9, 30, tzinfo=UTC)
    assert read_feed(ATOM, "https://www.gov.uk/x.atom").hub == "https://hub.example/"


BILLION_LAUGHS_MULTILINE = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><link>http://a/</link></item></channel></rss>
"""
BILLION_LAUGHS_ONE_LINE = b" ".join(line.strip() for line in BILLION_LAUGHS_MULTILINE.splitlines())

HOSTILE = {
    "billion-laughs-multiline": BILLION_LAUGHS_MULTILINE,
    "billion-laughs-one-line": BILLION_LAUGHS_ONE_LINE,
    "billion-laughs-lower-case": BILLION_LAUGHS_ONE_LINE.replace(b"DOCTYPE", b"doctype").replace(
        b"ENTITY", b"entity"
    ),
    "quadratic-blowup": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "'
    + b"x" * 50_000
    + b'">]><rss>'
    + b"&a;" * 50_000
    + b"</rss>",
    "xxe-file": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<rss version='2.0'><channel><title>&xxe;</title></channel></rss>",
    "xxe-metadata": b'<!DOCTYPE r [<!ENTITY x SYSTEM "http://169.254.169.254/latest/meta-data/">]>'
    b"<rss><channel><title>&x;</title></channel></rss>",
    "external-dtd": b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/evil.dtd"><rss/>',
    "parameter-entity": b'<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><rss/>',
    "after-comment": b'<?xml version="1.0"?><!-- hi --><!DOCTYPE x [<!ENTITY a "b">]><rss/>',
    "whitespace-in-decl": b"<?xml version='1.0'?>\n\n  <!   DOCTYPE x><rss/>",
    "utf16": '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE x [<!ENTITY a "b">]><rss/>'.encode("utf-16"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_xml_is_refused_cheaply(name: str) -> None:
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(FeedError):
            parse_feed(HOSTILE[name], "https://mfa.example/rss.xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.process_time() - started < 0.5
    assert peak < 20 * 1024 * 1024


def test_prologue_allows_plain_feeds() -> None:
    check_xml_prologue(RSS)
    check_xml_prologue(ATOM)
    check_xml_prologue(b"\xef\xbb\xbf<?xml version='1.0'?><!-- c --><?xml-stylesheet href='a'?><rss/>")


def test_doctype_inside_cdata_after_the_header_is_fine() -> None:
    padding = b"<item><title>x</title><link>https://mfa.example/p</link></item>" * 80
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        + padding
        + b"<item><title>html</title><link>https://mfa.example/h</link>"
        b"<description><![CDATA[<!DOCTYPE html><p>page</p>]]></description></item></channel></rss>"
    )
    items = parse_feed(body, "https://mfa.example/rss.xml")
    assert "https://mfa.example/h" in {i.url for i in items}


def test_truncated_feed_keeps_what_was_complete() -> None:
    cut = RSS[: RSS.index(b"<item><title>Same GUID A")]
    items = parse_feed(cut, "https://mfa.example/rss.xml")
    assert {i.url for i in items} >= {"https://mfa.example/en/news/1", "https://mfa.example/en/news/2"}


@pytest.mark.parametrize(
    "body",
    [b"", b"   ", b"<html><body>Access denied</body></html>", b"not xml at all", b"<rss", b"\x00\x01\x02"],
)
def test_not_a_feed(body: bytes) -> None:
    with pytest.raises(FeedError):
        parse_feed(body, "https://mfa.example/rss.xml")


def test_deep_nesting_does_not_crash() -> None:
    depth = 20_000
    body = b'<?xml version="1.0"?><rss version="2.0"><channel>' + b"<x>" * depth + b"</x>" * depth
    body += b"<item><title>t</title><link>https://mfa.example/deep</link></item></channel></rss>"
    started = time.process_time()
    try:
        parse_feed(body, "https://mfa.example/rss.xml")
    except FeedError:
        pass
    assert time.process_time() - started < 5


def test_titles_lose_markup_and_urls_dedupe_across_guids() -> None:
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
    <entry><id>1</id><title type="html">Talks &lt;b&gt;held&lt;/b&gt; in   Astana</title>
    <link href="https://mfa.example/a"/></entry>
    <entry><id>2</id><title>Talks held (updated)</title><link href="https://mfa.example/a?utm_source=x"/></entry>
    <entry><id>3</id><title>A &lt; B</title><link href="https://mfa.example/c"/></entry>
    </feed>"""
    items = parse_feed(body, "https://mfa.example/atom")
    assert [(i.url, i.title) for i in items] == [
        ("https://mfa.example/a", "Talks held in Astana"),
        ("https://mfa.example/c", "A < B"),
    ]

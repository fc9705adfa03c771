from __future__ import annotations

from datetime import date

import pytest

from services.core.domain import ArticleSelectors
from services.parser.article import decode_html, extract_article
from services.parser.errors import ParseError

PAGE = """<html lang="en"><head><meta charset="utf-8"><title>Site | Talks</title>
<meta property="article:published_time" content="2024-03-05T10:00:00Z"></head>
<body><nav>Home | About | Contact</nav>
<div class="content"><h1 class="ttl">Foreign Minister meets counterpart</h1>
<span class="date">2024-03-04</span>
<div class="share">Share on social media</div>
<p>Foreign Minister Aldo Verano held talks with the Foreign Minister of Japan Kenji Orimura.</p>
<p>The ministers discussed trade and investment.</p></div>
<footer>Copyright</footer></body></html>"""

SEL = ArticleSelectors(
    title="h1.ttl", body="div.content", date="span.date", drop=(".share", "h1.ttl", "span.date")
)


def test_selectors_first() -> None:
    art = extract_article(PAGE, url="https://example.org/a", selectors=SEL, source_country="KAZ")
    assert art.title == "Foreign Minister meets counterpart"
    assert art.published == date(2024, 3, 4)
    assert "held talks" in art.text
    assert "Share on social media" not in art.text
    assert "Copyright" not in art.text
    assert art.language == "en"
    assert art.source_country == "KAZ"


def test_fallback_without_selectors() -> None:
    art = extract_article(PAGE.encode("utf-8"))
    assert "held talks" in art.text
    assert art.published == date(2024, 3, 5)
    assert art.title


def test_given_metadata_wins() -> None:
    art = extract_article(PAGE, selectors=SEL, title="T", published=date(2020, 1, 1), language="fr")
    assert (art.title, art.published, art.language) == ("T", date(2020, 1, 1), "fr")


def test_selectors_missing_falls_back() -> None:
    art = extract_article(PAGE, selectors=ArticleSelectors(body="div.nothing-here"))
    assert "held talks" in art.text


@pytest.mark.parametrize("bad", ["", b"", "   "])
def test_empty_raises_parse_error(bad: str | bytes) -> None:
    with pytest.raises(ParseError):
        extract_article(bad)


def test_decode_gb_charset() -> None:
    html = '<html><head><meta charset="gb2312"></head><body><p>王毅会见外宾</p></body></html>'.encode(
        "gb18030"
    )
    assert "王毅" in decode_html(html)


WRAPPED = """<html lang="en"><body><div class="news-detail"><h1>Video call with the President of Mongolia</h1>
<span class="news-date">14.02.2026</span>
<div class="news-text"><p>Astana, 14 February 2026. President of Kazakhstan Kassym-Jomart Tokayev held
talks via video call with President of Mongolia Ukhnaagiin Khurelsukh.</p>
<p>The leaders discussed trade.</p></div></div>
</body></html>"""


def test_source_line_breaks_and_dotted_date() -> None:
    """A line break in the HTML source is a space, not a sentence end; "14.02.2026" is day first."""
    from services.core.domain import Article
    from services.parser.extract import extract_meetings

    sel = ArticleSelectors(title="div.news-detail h1", body="div.news-text", date="span.news-date")
    art = extract_article(WRAPPED, url="https://example.org/v", selectors=sel, source_country="KAZ")
    assert art.published == date(2026, 2, 14)
    assert "held talks via video call with President" in art.text
    assert isinstance(art, Article)
    claims = extract_meetings(art)
    assert len(claims) == 1
    assert claims[0].mode == "video"
    assert {p.country for p in claims[0].participants} == {"KAZ", "MNG"}


_BODY = (
    "<div class='content'><p>The Minister of Foreign Affairs held talks with his counterpart today.</p></div>"
)
TIME_PAGE = (
    "<html><head><title>Talks</title></head><body><h1 class='ttl'>Talks</h1>"
    "<span class='date'><time datetime='2026-11-20T10:00:00+05:00'>20 November, 10:00</time></span>"
    f"{_BODY}</body></html>"
)


@pytest.mark.parametrize(
    "sel",
    [
        SEL,  # the date selector hits the wrapper of a <time>
        ArticleSelectors(title="h1.ttl", body="div.content", date="span.date time", drop=("span.date",)),
        ArticleSelectors(title="h1.ttl", body="div.content", drop=("span.date",)),  # no date selector
        None,
    ],
)
def test_time_datetime_attribute(sel: ArticleSelectors | None) -> None:
    art = extract_article(TIME_PAGE, selectors=sel)
    # the publisher's local calendar day, not shifted to UTC
    assert art.published == date(2026, 11, 20)


def test_meta_published_time_without_selector_date() -> None:
    page = (
        "<html><head><meta property='article:published_time' content='2026-11-19T23:30:00+05:00'></head>"
        f"<body>{_BODY}</body></html>"
    )
    art = extract_article(page, selectors=ArticleSelectors(body="div.content"))
    assert art.published == date(2026, 11, 19)

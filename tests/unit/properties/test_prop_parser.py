"""Properties of the parse stage on hostile input (reliability case 14): on any bytes — invalid UTF-8,
mislabelled charsets, deep nesting, huge attributes, scripts, SVG, javascript: URLs — the parser

* raises nothing but ``ParseError`` (the stage records it on the document; anything else would be a bug
  that dead-letters the task),
* returns within ``BUDGET_S`` (timed per call),
* is deterministic: the same input twice gives equal output (records, or the same error).

The entry points are the ones the pipeline and the CLI call: ``stages.default_extract`` (article →
claims → records, what ``parser.parse_document`` runs) and ``extract_cli.run_extract`` (``communique
extract``). No expected extractor output is hard-coded: only these contracts are checked.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.core.domain import Article
from services.core.stages import default_extract
from services.fetcher.sources import SourceDef
from services.parser.article import extract_article
from services.parser.errors import ParseError
from services.parser.extract import extract_meetings, record_for
from services.parser.extract_cli import run_extract
from services.store.models import DocumentRow
from tests.unit.properties.strategies import HALF, PROFILE, article_selectors, hostile_html, page_bytes, timed

URL = "https://mfa.example/press/1"


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Load the language packs, gazetteers and registry once, so that the first example's budget measures
    the parser and not the loading."""
    article = Article(text="The Minister of Foreign Affairs held talks with the Minister.", language="en")
    extract_meetings(article)
    extract_article(b"<html><body><p>" + b"x " * 50 + b"</p></body></html>")


def _source(selectors: Any, language: str | None, country: str | None) -> SourceDef | None:
    if selectors is None and language is None:
        return None
    return SourceDef(
        id="prop-src",
        name="MFA of the property tests",
        country=country or "KAZ",
        language=language or "en",
        kind="rss",
        url="https://mfa.example/rss",
        article=selectors,
    )


def _parse(body: bytes, source: SourceDef | None) -> list[dict[str, Any]] | str:
    """The parse stage on ``body``: its records, or the text of its ``ParseError``. Any other exception
    fails the test (with the input, by Hypothesis)."""
    out, _ = timed(lambda: default_extract(body, source, DocumentRow(url=URL, title_hint=None)))
    if isinstance(out, ParseError):
        return f"ParseError: {out}"
    assert not isinstance(out, BaseException), f"the parser raised {type(out).__name__}: {out!r}"
    assert isinstance(out, list)
    return out


@PROFILE
@given(
    body=page_bytes(),
    selectors=article_selectors(),
    language=st.sampled_from([None, "en", "ru", "zh"]),
    country=st.sampled_from([None, "KAZ", "CHN"]),
)
def test_parse_stage_raises_only_parse_error_in_budget_and_is_deterministic(
    body: bytes, selectors: Any, language: str | None, country: str | None
) -> None:
    source = _source(selectors, language, country)
    first = _parse(body, source)
    assert _parse(body, source) == first
    if isinstance(first, list):
        for record in first:
            json.dumps(record)  # a stored record is plain JSON
            assert isinstance(record.get("participants"), list)


@HALF
@given(html=hostile_html())
def test_article_of_a_str_page_is_parse_error_or_an_article_with_text(html: str) -> None:
    out, _ = timed(lambda: extract_article(html, url=URL))
    if isinstance(out, ParseError):
        return
    assert isinstance(out, Article), f"extract_article raised {type(out).__name__}: {out!r}"
    assert out.text.strip()
    # the extractor's input stays within the contract too
    claims, _ = timed(lambda: [record_for(c, out) for c in extract_meetings(out)])
    assert isinstance(claims, list | ParseError), f"extraction raised {type(claims).__name__}: {claims!r}"


@PROFILE
@given(
    text=st.text(max_size=3000),
    language=st.one_of(st.none(), st.text(max_size=8), st.sampled_from(["en", "ru", "zh", "ja", "kk"])),
    country=st.one_of(st.none(), st.text(max_size=4), st.sampled_from(["KAZ", "CHN", "RUS"])),
    publisher=st.one_of(st.none(), st.text(max_size=40), st.just("Ministry of Foreign Affairs")),
    title=st.one_of(st.none(), st.text(max_size=200)),
)
def test_meeting_extraction_of_any_article_is_records_or_parse_error(
    text: str, language: str | None, country: str | None, publisher: str | None, title: str | None
) -> None:
    article = Article(
        text=text, title=title, url=URL, language=language, publisher=publisher, source_country=country
    )
    first, _ = timed(lambda: [record_for(c, article) for c in extract_meetings(article)])
    assert isinstance(first, list | ParseError), f"extraction raised {type(first).__name__}: {first!r}"
    second, _ = timed(lambda: [record_for(c, article) for c in extract_meetings(article)])
    assert repr(second) == repr(first)


_LINE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=50), st.lists(st.integers(), max_size=3)
)


@HALF
@given(
    lines=st.lists(
        st.one_of(
            st.text(max_size=200),
            st.dictionaries(
                st.sampled_from(
                    ["id", "url", "html", "text", "title", "published", "language", "source_country"]
                ),
                _LINE_VALUES,
                max_size=6,
            ).map(json.dumps),
            hostile_html().map(lambda h: json.dumps({"id": "h", "html": h})),
        ),
        max_size=4,
    )
)
def test_extract_cli_answers_every_line_and_never_raises(lines: list[str]) -> None:
    """``communique extract``: one output line per non-empty input line, bad lines carry ``error``."""
    text = "\n".join(line.replace("\n", " ") for line in lines) + "\n"
    out = io.StringIO()
    errors, _ = timed(lambda: run_extract(io.StringIO(text), out))
    assert isinstance(errors, int), f"run_extract raised {type(errors).__name__}: {errors!r}"
    # (JSON Lines split on "\n" only: a record may hold U+2028 and the like, which str.splitlines splits on)
    answers = [json.loads(line) for line in out.getvalue().split("\n") if line]
    # (the CLI reads lines split on "\n" only, as a file object does)
    assert len(answers) == sum(1 for line in text.split("\n") if line.strip())
    assert errors == sum(1 for a in answers if "error" in a)
    for a in answers:
        assert isinstance(a["meetings"], list)

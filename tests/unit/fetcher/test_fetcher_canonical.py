from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.fetcher.canonical import canonical_url, is_tracking_param


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://WWW.Example.COM/News", "http://www.example.com/News"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a?utm_source=tw&utm_medium=x&id=5", "https://example.com/a?id=5"),
        ("https://example.com/a?fbclid=abc&gclid=1&yclid=2&mc_cid=3&mc_eid=4", "https://example.com/a"),
        ("https://example.com/a?UTM_Campaign=x&p=1", "https://example.com/a?p=1"),
        ("https://user:secret@example.com/a", "https://example.com/a"),
        ("https://example.com./a", "https://example.com/a"),
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/%7e%2f", "https://example.com/%7E%2F"),
        ("https://bücher.de/x", "https://xn--bcher-kva.de/x"),
        ("  https://example.com/a  ", "https://example.com/a"),
        # a bare key is the whole query of some CMSs (mfa.gov.tr): it must stay bare
        (
            "https://www.mfa.gov.tr/sub.en.mfa?ad9093da-8e71-4678-a1b6-05f297baadc4",
            "https://www.mfa.gov.tr/sub.en.mfa?ad9093da-8e71-4678-a1b6-05f297baadc4",
        ),
        (
            "https://mid.ru/ru/foreign_policy/news/?PAGEN_1=2",
            "https://mid.ru/ru/foreign_policy/news/?PAGEN_1=2",
        ),
        ("http://[::1]:80/x", "http://[::1]/x"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_non_urls_come_back_stripped() -> None:
    assert canonical_url(" mailto:a@b.c ") == "mailto:a@b.c"
    assert canonical_url("not a url") == "not a url"
    assert canonical_url("http://example.com:99999/") == "http://example.com:99999/"


def test_tracking_params() -> None:
    assert is_tracking_param("utm_content")
    assert is_tracking_param("FBCLID")
    assert not is_tracking_param("id")
    assert not is_tracking_param("page")


# Control and space characters are excluded: surrounding whitespace is stripped from the whole URL, and
# urlsplit drops tabs and newlines anywhere (WHATWG), so they cannot round-trip through a query value.
_NO_SPACE = ("Cc", "Cs", "Zs", "Zl", "Zp")
_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=_NO_SPACE, exclude_characters="#?/"), max_size=8
)
_key = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_%-+ ", min_size=1, max_size=6)
_value = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=_NO_SPACE, exclude_characters="&#"), max_size=8
)
_tracking = st.sampled_from(
    ["utm_source", "utm_medium", "fbclid", "gclid", "yclid", "mc_cid", "_ga", "msclkid"]
)


@st.composite
def urls(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    scheme = draw(st.sampled_from(["http", "https", "HTTP", "Https"]))
    host = draw(
        st.sampled_from(["example.com", "WWW.MFA.GOV.KZ", "mid.ru", "xn--80ak6aa92e.com", "10.0.0.1"])
    )
    port = draw(st.sampled_from(["", ":80", ":443", ":8080"]))
    path = "/".join(draw(st.lists(_segment, max_size=4)))
    params = draw(st.lists(st.tuples(_key, _value), max_size=4))
    query = "&".join(f"{k}={v}" for k, v in params)
    frag = draw(st.sampled_from(["", "#top", "#a?b"]))
    return f"{scheme}://{host}{port}/{path}" + (f"?{query}" if query else "") + frag, params


@settings(max_examples=300, deadline=None)
@given(urls())
def test_idempotent(case: tuple[str, list[tuple[str, str]]]) -> None:
    url, _ = case
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=300, deadline=None)
@given(urls(), st.lists(st.tuples(_tracking, _value), min_size=1, max_size=3))
def test_stable_under_tracking_noise(
    case: tuple[str, list[tuple[str, str]]], noise: list[tuple[str, str]]
) -> None:
    url, _ = case
    base, _, frag = url.partition("#")
    sep = "&" if "?" in base else "?"
    noisy = base + sep + "&".join(f"{k}={v}" for k, v in noise) + (f"#{frag}" if frag else "")
    assert canonical_url(noisy) == canonical_url(url)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_never_raises(text: str) -> None:
    out = canonical_url(text)
    assert canonical_url(out) == out

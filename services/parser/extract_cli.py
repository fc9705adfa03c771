"""Offline extraction: JSON Lines in, JSON Lines out (the contract of ``communique extract``).

Input lines: ``{"id", "url"?, "html"?, "text"?, "title"?, "published"?, "language"?, "publisher"?,
"source_country"?}``. Output: one line per input, ``{"id", "meetings": [record, ...]}``; a bad line gets an
``"error"`` field instead of stopping the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from typing import Any, TextIO

from services.core.domain import Article
from services.parser.article import extract_article
from services.parser.errors import ParseError
from services.parser.extract import extract_meetings, record_for
from services.parser.langdetect import detect_language

__all__ = ["run_extract", "article_from_input", "main"]


def _date(v: Any) -> date | None:
    if v is None or v == "":
        return None
    if isinstance(v, date):
        return v
    s = str(v).strip()
    try:
        return date.fromisoformat(s[:10])
    except ValueError:
        try:
            return datetime.fromisoformat(s.replace("Z", "+00:00")).date()
        except ValueError as e:
            raise ParseError(f"bad published date: {s!r}") from e


def article_from_input(obj: dict[str, Any]) -> Article:
    """The article of one input object (``html`` goes through the article extractor, ``text`` as given)."""
    if not isinstance(obj, dict):
        raise ParseError("input line is not a JSON object")
    published = _date(obj.get("published"))
    lang = obj.get("language") or None
    if obj.get("html"):
        art = extract_article(
            obj["html"],
            url=obj.get("url"),
            title=obj.get("title"),
            published=published,
            language=lang,
            publisher=obj.get("publisher"),
            source_country=obj.get("source_country"),
        )
        return art
    text = obj.get("text")
    if not isinstance(text, str):
        raise ParseError("input needs 'html' or 'text'")
    return Article(
        text=text,
        title=obj.get("title"),
        url=obj.get("url"),
        language=lang or detect_language(text),
        published=published,
        publisher=obj.get("publisher"),
        source_country=obj.get("source_country"),
    )


def run_extract(inp: TextIO, out: TextIO, explain: bool = False) -> int:
    """Process every line of ``inp``; returns the number of lines that carried an error."""
    errors = 0
    for n, line in enumerate(inp, 1):
        if not line.strip():
            continue
        rid: Any = None
        try:
            obj = json.loads(line)
            rid = obj.get("id") if isinstance(obj, dict) else None
            article = article_from_input(obj)
            claims = extract_meetings(article)
            res: dict[str, Any] = {
                "id": rid,
                "meetings": [record_for(c, article, explain=explain) for c in claims],
            }
        except (ParseError, json.JSONDecodeError, TypeError, ValueError) as e:
            errors += 1
            res = {"id": rid if rid is not None else f"line-{n}", "meetings": [], "error": str(e)}
        out.write(json.dumps(res, ensure_ascii=False) + "\n")
    out.flush()
    return errors


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Extract meeting records from JSON Lines articles.")
    ap.add_argument("-i", "--input", default="-")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--explain", action="store_true")
    a = ap.parse_args(argv)
    fin = sys.stdin if a.input == "-" else open(a.input, encoding="utf-8")  # noqa: SIM115
    fout = sys.stdout if a.output == "-" else open(a.output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        run_extract(fin, fout, explain=a.explain)
    finally:
        if fin is not sys.stdin:
            fin.close()
        if fout is not sys.stdout:
            fout.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Atom (RFC 4287) rendering of meeting pages, so that any feed reader can subscribe to a filtered view.

Entry ids are tag URIs of the meeting id (stable across databases and re-runs, since the meeting id is); an
entry's ``updated`` is the meeting's last material change, so readers re-show a meeting that gained facts
but not one that only gained a source. Text goes out as ``type="text"`` (escaped by the serializer) with
characters XML 1.0 forbids removed: nothing from a source page is ever served as markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from services.api.repository import MeetingView

__all__ = ["ATOM_NS", "entry_id", "entry_title", "render_atom"]

ATOM_NS = "http://www.w3.org/2005/Atom"
TAG_AUTHORITY = "tag:communique-news.github.io,2025"
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
MODE_WORDS = {"in_person": "talks", "phone": "phone call", "video": "video call"}


def _clean(text: str) -> str:
    return _XML_INVALID.sub("", text)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_id(meeting_id: str) -> str:
    return f"{TAG_AUTHORITY}:meeting/{meeting_id}"


def _parties(record: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for p in record.get("participants") or ():
        side = p.get("country") or p.get("org")
        if isinstance(side, str) and side not in out:
            out.append(side)
    return out


def entry_title(record: Mapping[str, Any]) -> str:
    """``KAZ–CHN: Murat Nurtleu, Wang Yi (talks, 2025-03-04)``; planned meetings say so."""
    names = [
        str(p.get("name") or p.get("name_as_printed") or p.get("title") or p.get("role"))
        for p in record.get("participants") or ()
    ]
    what = MODE_WORDS.get(str(record.get("mode")), str(record.get("mode")))
    if record.get("status") == "planned":
        what = f"planned {what}"
    when = record.get("date") or "date unknown"
    return f"{'–'.join(_parties(record)) or '?'}: {', '.join(names[:6])} ({what}, {when})"


def _summary(record: Mapping[str, Any]) -> str:
    lines: list[str] = []
    for src in record.get("sources") or ():
        ev = src.get("evidence")
        if ev:
            lines.append(f"{src.get('publisher') or src.get('url')}: {ev}")
    return "\n".join(lines) or entry_title(record)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        el.text = _clean(text)
    return el


def render_atom(
    views: Sequence[MeetingView],
    *,
    self_url: str,
    html_url: str,
    meeting_url: str,
    next_url: str | None,
    title: str,
    now: datetime,
) -> bytes:
    """The feed document. ``meeting_url`` holds ``{id}`` (the API address of one meeting)."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "id", f"{TAG_AUTHORITY}:feed/{self_url.split('://', 1)[-1].split('/', 1)[-1]}")
    _sub(feed, "title", title, type="text")
    _sub(feed, "updated", _ts(max((v.updated_at for v in views), default=now)))
    _sub(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    _sub(feed, "link", rel="alternate", type="application/json", href=html_url)
    if next_url:
        _sub(feed, "link", rel="next", type="application/atom+xml", href=next_url)
    author = _sub(feed, "author")
    _sub(author, "name", "Communiqué")
    _sub(feed, "generator", "Communiqué")
    for view in views:
        rec = view.record
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(str(rec["id"])))
        _sub(entry, "title", entry_title(rec), type="text")
        _sub(entry, "updated", _ts(view.updated_at))
        _sub(entry, "published", _ts(view.created_at))
        # No type attribute: readers then take it as the entry's link (feedparser skips non-HTML alternates).
        _sub(entry, "link", rel="alternate", href=meeting_url.format(id=rec["id"]))
        for src in rec.get("sources") or ():
            if src.get("url"):
                _sub(
                    entry, "link", rel="related", href=str(src["url"]), title=str(src.get("publisher") or "")
                )
        for term in (rec.get("level"), rec.get("mode"), rec.get("status"), *_parties(rec)):
            if isinstance(term, str) and term:
                _sub(entry, "category", term=term)
        _sub(entry, "summary", _summary(rec), type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body

"""Meeting dates resolved against the publication date.

Heuristics (all pure):
- an explicit date in the sentence wins ("28 October 2025", "October 28", "28 октября", "10月28日");
  a date without a year takes the reference year, or the year before when it would lie > 7 days after it;
- a Chinese day alone ("8日") takes the reference month (the month before when the day is later);
- relative words ("today", "yesterday", "накануне", "昨天") and weekdays ("on Tuesday", the latest such day
  on or before the reference) count from the reference date;
- a range ("from 17 to 19 June", "17-19 June") fixes no single day: None;
- the reference date is the dateline date when the text has one, else the publication date.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from services.parser.packs import Pack

__all__ = ["DateHit", "find_dates", "resolve_date", "parse_dateline", "Dateline"]

_RANGE_BEFORE = re.compile(
    r"(?:\d{1,2}\s*(?:-|–|—|to|до|по|至|到|and|и)\s*|from\s+|between\s+|с\s+|до\s+|by\s+|until\s+|till\s+)$",
    re.IGNORECASE,
)
_RANGE_AFTER = re.compile(r"^\s*(?:-|–|—|至|到|to)\s*\d", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DateHit:
    start: int
    end: int
    value: date | None
    explicit: bool


@dataclass(frozen=True, slots=True)
class Dateline:
    city_text: str
    day: date | None
    end: int


def _month(pack: Pack, token: str) -> int | None:
    if token.isdigit():
        m = int(token)
        return m if 1 <= m <= 12 else None
    t = token.lower().rstrip(".")
    if t in pack.months:
        return pack.months[t]
    # inflected month names (Russian "октября"): the longest known stem that starts the token
    best = None
    for k, v in pack.months.items():
        if t.startswith(k) and (best is None or len(k) > best[0]):
            best = (len(k), v)
    return best[1] if best else None


_CLOCK = re.compile(r"\d:$")


def _safe(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def find_dates(text: str, pack: Pack, ref: date | None) -> list[DateHit]:
    """Dates stated in ``text``, resolved against ``ref`` (None where the year or month cannot be known)."""
    hits: list[DateHit] = []
    taken: list[tuple[int, int]] = []
    for rx in pack.date_res:
        for m in rx.finditer(text):
            if any(s < m.end() and m.start() < e for s, e in taken) or _CLOCK.search(text, 0, m.start()):
                # "14:24 Июль 16": minutes of a clock time are not a day
                continue
            gd = m.groupdict()
            day = int(gd["day"]) if gd.get("day") else None
            month = _month(pack, gd["month"]) if gd.get("month") else None
            year = int(gd["year"]) if gd.get("year") else None
            taken.append((m.start(), m.end()))
            if _RANGE_BEFORE.search(text[max(0, m.start() - 12) : m.start()]) or _RANGE_AFTER.match(
                text[m.end() : m.end() + 6]
            ):
                hits.append(DateHit(m.start(), m.end(), None, True))
                continue
            if day is None:
                continue
            value: date | None = None
            if year and month:
                value = _safe(year, month, day)
            elif month:
                if ref:
                    value = _safe(ref.year, month, day)
                    if value and value > ref + timedelta(days=7):
                        value = _safe(ref.year - 1, month, day)
            elif ref:
                value = _safe(ref.year, ref.month, day)
                if value is None or value > ref + timedelta(days=1):
                    prev = ref.replace(day=1) - timedelta(days=1)
                    value = _safe(prev.year, prev.month, day)
            hits.append(DateHit(m.start(), m.end(), value, True))
    if ref:
        for m in pack.relative_re.finditer(text):
            off = pack.relative_days.get(m.group(0).lower())
            if off is not None:
                hits.append(DateHit(m.start(), m.end(), ref + timedelta(days=off), False))
        for m in pack.weekday_re.finditer(text):
            wd = pack.weekdays.get(m.group(0).lower())
            if wd is not None:
                back = (ref.weekday() - wd) % 7
                hits.append(DateHit(m.start(), m.end(), ref - timedelta(days=back), False))
    hits.sort(key=lambda h: h.start)
    return hits


def resolve_date(sentence: str, pack: Pack, ref: date | None) -> tuple[date | None, bool]:
    """The meeting day a sentence states: (date, found). ``found`` is True when the sentence names a day at
    all (even one that cannot be resolved, like a range), so callers do not fall back to other dates."""
    hits = find_dates(sentence, pack, ref)
    if not hits:
        return None, False
    explicit = [h for h in hits if h.explicit]
    h = explicit[0] if explicit else hits[0]
    return h.value, True


def parse_dateline(text: str, pack: Pack, published: date | None) -> Dateline | None:
    """A dateline at the start of the text.

    Examples: "ASTANA, October 28", "МОСКВА, 22 октября.", "新华社北京12月8日电".
    """
    if pack.dateline_re is None:
        return None
    m = pack.dateline_re.search(text[:200])
    if not m:
        return None
    city = m.group("city").strip(" ,.")
    rest = m.group("rest")
    d = find_dates(rest, pack, published)
    day = d[0].value if d and d[0].explicit else None
    return Dateline(city, day, m.end())

"""Language packs: one YAML file per language (``<lang>.yaml`` next to this module), read into a ``Pack``.

A pack holds data only: meeting cues by mode, negative cues, title phrases by schema role, month and weekday
names, relative-day words and date/dateline patterns. The generic code in ``extract.py`` and ``dates.py``
compiles them once per process. Adding a language means adding a YAML file (and a golden test).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.parser.packs.firstchars import prefixes

__all__ = ["Pack", "available_languages", "load_pack", "ROLE_PRIORITY"]

_DIR = Path(__file__).resolve().parent
_prefixes = functools.lru_cache(maxsize=256)(prefixes)
_WORD_START = re.compile(r"(?<!\w)\w")

# When one person carries several titles ("State Councilor and Foreign Minister"), the first role in this
# order wins (the labelling guide: a deputy premier who is also foreign minister is a foreign minister).
ROLE_PRIORITY: tuple[str, ...] = (
    "foreign_minister",
    "head_of_state",
    "head_of_government",
    "deputy_head_of_state",
    "deputy_head_of_government",
    "deputy_foreign_minister",
    "org_head",
    "envoy",
    "ambassador",
    "minister",
    "legislator",
    "official",
    "counterpart",
)


def _alt(fragments: list[str]) -> str:
    """Alternation of regex fragments, longest source first so that specific phrases beat generic ones."""
    frs = sorted({f for f in fragments if f}, key=len, reverse=True)
    return "(?:" + "|".join(frs) + ")" if frs else "(?!)"


@dataclass(frozen=True)
class Pack:
    """A compiled language pack."""

    language: str
    script: str
    raw: dict[str, Any]
    cue_re: re.Pattern[str]
    cue_modes: tuple[tuple[str, re.Pattern[str]], ...]
    multilateral_re: re.Pattern[str]
    planned_re: re.Pattern[str]
    not_meeting_re: re.Pattern[str]
    background_re: re.Pattern[str]
    first_person_re: re.Pattern[str]
    title_re: re.Pattern[str]
    title_roles: tuple[tuple[str, re.Pattern[str]], ...]
    honorific_re: re.Pattern[str]
    not_names: frozenset[str]
    months: dict[str, int]
    weekdays: dict[str, int]
    relative_days: dict[str, int]
    date_res: tuple[re.Pattern[str], ...]
    relative_re: re.Pattern[str]
    weekday_re: re.Pattern[str]
    dateline_re: re.Pattern[str] | None
    place_preps: tuple[str, ...]
    sideline_re: re.Pattern[str]
    visit_re: re.Pattern[str]
    stopwords: frozenset[str]
    name_stops: tuple[str, ...] = field(default=())
    plural_re: re.Pattern[str] | None = None
    held_re: re.Pattern[str] | None = None
    delegation_re: re.Pattern[str] | None = None
    modifier_lowercase: bool = False
    _roles: dict[str, str] = field(default_factory=dict)
    _starts: list[tuple[str, list[int], list[str]]] = field(default_factory=list)
    joined_re: re.Pattern[str] | None = None
    event_re: re.Pattern[str] | None = None
    not_before_re: re.Pattern[str] | None = None
    not_after_re: re.Pattern[str] | None = None
    attend_re: re.Pattern[str] | None = None
    place_title_gap_re: re.Pattern[str] | None = None
    # an office held by each state of a list: "foreign ministers of A, B and C", "A、B、C等国外长"
    group_before: tuple[tuple[str, re.Pattern[str]], ...] = ()
    group_after: tuple[tuple[str, re.Pattern[str]], ...] = ()
    # a format's own session named right after the organisation: "ASEAN外相会議", "ARF閣僚会合"
    format_meeting_re: re.Pattern[str] | None = None

    @property
    def bounded(self) -> bool:
        """Scripts with spaces between words get word boundaries around every fragment."""
        return self.script != "han" and self.script != "kana"

    def wrap(self, body: str) -> str:
        return rf"(?<!\w)(?:{body})(?!\w)" if self.bounded else body

    def finditer(self, rx: re.Pattern[str], text: str) -> list[re.Match[str]]:
        """Non-overlapping matches of ``rx``; in spaced scripts tried only at the word starts whose first
        characters can begin a match (see ``firstchars``), several times faster than a scan of every character
        for the packs' long alternations."""
        if not self.bounded:
            return list(rx.finditer(text))
        out: list[re.Match[str]] = []
        end = 0
        match = rx.match
        starts, heads = self._words(text)
        allowed = _prefixes(rx)
        if allowed is None:
            candidates = starts
        else:
            one, two, three = allowed.by_len
            candidates = [
                pos
                for pos, head in zip(starts, heads, strict=True)
                if head in three or (two and head[:2] in two) or (one and head[:1] in one)
            ]
        for pos in candidates:
            if pos < end:
                continue
            m = match(text, pos)
            if m is not None and m.end() > pos:
                out.append(m)
                end = m.end()
        return out

    def word_starts(self, text: str) -> list[int]:
        """Offsets of the words of ``text``."""
        return self._words(text)[0]

    def _words(self, text: str) -> tuple[list[int], list[str]]:
        """Offsets of the words of ``text`` and their first three characters, case-folded (the last text's are
        kept: callers scan one text many times)."""
        entry = self._starts[0] if self._starts else None  # one tuple: safe to read while another writes
        if entry is not None and entry[0] is text:
            return entry[1], entry[2]
        starts = [m.start() for m in _WORD_START.finditer(text)]
        heads = [text[pos : pos + 3].lower() for pos in starts]
        self._starts[:] = [(text, starts, heads)]
        return starts, heads

    def search(self, rx: re.Pattern[str], text: str) -> re.Match[str] | None:
        """The first match of ``rx`` in one sentence (short texts: the C scanner beats a word-start loop)."""
        return rx.search(text)

    def role_of(self, title: str) -> str:
        """Schema role of a title phrase: the highest-priority role whose pattern matches inside it."""
        cached = self._roles.get(title)
        if cached is not None:
            return cached
        role = self._role_of(title)
        self._roles[title] = role
        return role

    def _role_of(self, title: str) -> str:
        found = [role for role, rx in self.title_roles if rx.search(title)]
        if not found:
            return "counterpart"
        for role in ROLE_PRIORITY:
            if role in found:
                return role
        return "official"


def _compile(raw: dict[str, Any]) -> Pack:
    script = str(raw.get("script", "latin"))
    bounded = script not in ("han", "kana")
    flags = re.IGNORECASE

    # words that attach to the next one (Arabic "و", "ب"): allowed before every fragment
    clitic = f"(?:{raw['clitics']})?" if raw.get("clitics") else ""

    def wrap(body: str) -> str:
        return rf"(?<!\w){clitic}(?:{body})(?!\w)" if bounded else body

    cues: dict[str, list[str]] = raw.get("cues") or {}
    modes = [(m, re.compile(wrap(_alt(cues.get(m) or [])), flags)) for m in ("video", "phone", "in_person")]
    all_cues = [c for m in ("video", "phone", "in_person") for c in cues.get(m) or []]
    neg: dict[str, list[str]] = raw.get("negative") or {}
    titles: dict[str, list[str]] = raw.get("titles") or {}
    title_roles = tuple(
        (role, re.compile(r"^" + wrap(_alt(pats)) + r"$", flags)) for role, pats in titles.items()
    )
    all_titles = [p for pats in titles.values() for p in pats] + list(raw.get("counterpart") or [])
    months = {str(k).lower(): int(v) for k, v in (raw.get("months") or {}).items()}
    month_alt = _alt([re.escape(m) for m in months]) if months else r"(?!)"
    date_res = tuple(
        re.compile(wrap(p.replace("{MONTH}", month_alt)), flags) for p in raw.get("date_patterns") or []
    )
    rel = {str(k).lower(): int(v) for k, v in (raw.get("relative_days") or {}).items()}
    wd = {str(k).lower(): int(v) for k, v in (raw.get("weekdays") or {}).items()}
    fp = [re.escape(x) for x in neg.get("first_person") or []]
    dl = raw.get("dateline")
    groups: dict[str, dict[str, list[str]]] = raw.get("group_titles") or {}
    group_before = tuple(
        (
            role,
            re.compile(
                r"(?<!\w)(?:" + _alt(pats) + r")\s*(?:the\s+)?$" if bounded else _alt(pats) + "$", flags
            ),
        )
        for role, pats in (groups.get("before") or {}).items()
    )
    group_after = tuple(
        (role, re.compile("^(?:" + _alt(pats) + r")" + (r"(?!\w)" if bounded else ""), flags))
        for role, pats in (groups.get("after") or {}).items()
    )
    return Pack(
        format_meeting_re=re.compile(str(raw["format_meeting"])) if raw.get("format_meeting") else None,
        group_before=group_before,
        group_after=group_after,
        language=str(raw["language"]),
        script=script,
        raw=raw,
        cue_re=re.compile(wrap(_alt(all_cues)), flags),
        cue_modes=tuple(modes),
        multilateral_re=re.compile(wrap(_alt(cues.get("multilateral") or [])), flags),
        planned_re=re.compile(wrap(_alt(neg.get("planned") or [])), flags),
        not_meeting_re=re.compile(wrap(_alt(neg.get("not_meeting") or [])), flags),
        background_re=re.compile(wrap(_alt(neg.get("background") or [])), flags),
        first_person_re=re.compile(wrap(_alt(fp))),
        title_re=re.compile(wrap(_alt(all_titles)), flags),
        title_roles=title_roles,
        # a whole word only in spaced scripts: "Sir" is not the start of "Sirojiddin"
        honorific_re=re.compile(
            r"^(?:\s*(?:" + _alt(raw.get("honorifics") or []) + (r")(?!\w)\s*)+" if bounded else r")\s*)+")
        ),
        not_names=frozenset(str(x) for x in raw.get("not_names") or []),
        months=months,
        weekdays=wd,
        relative_days=rel,
        date_res=date_res,
        relative_re=re.compile(wrap(_alt([re.escape(k) for k in rel])), flags),
        weekday_re=re.compile(wrap(_alt([re.escape(k) for k in wd])), flags),
        dateline_re=re.compile(str(dl)) if dl else None,
        place_preps=tuple(str(x) for x in raw.get("place_preps") or []),
        sideline_re=re.compile(wrap(_alt(raw.get("sideline_cues") or [])), flags),
        visit_re=re.compile(wrap(_alt(raw.get("visit_cues") or [])), flags),
        stopwords=frozenset(str(x) for x in raw.get("stopwords") or []),
        plural_re=re.compile(str(raw["plural_title"])) if raw.get("plural_title") else None,
        held_re=re.compile(wrap(_alt(raw.get("held_markers") or [])), flags)
        if raw.get("held_markers")
        else None,
        delegation_re=re.compile(str(raw["delegation"])) if raw.get("delegation") else None,
        attend_re=re.compile(wrap(_alt(raw.get("attend_cues") or [])), flags)
        if raw.get("attend_cues")
        else None,
        not_before_re=re.compile(
            r"(?:"
            + _alt(raw.get("not_participant_before") or [])
            + (r")\s*(?:the\s+)?(?:\S+\s+){0,2}$" if bounded else r")\S{0,6}$"),
            flags,
        )
        if raw.get("not_participant_before")
        else None,
        not_after_re=re.compile(r"^\s*" + _alt(raw.get("not_participant_after") or []), flags)
        if raw.get("not_participant_after")
        else None,
        # every cue family in one alternation, so that a text is scanned once (first family listed wins a tie)
        event_re=re.compile(
            wrap(
                "|".join(
                    f"(?P<{name}>{_alt(frs)})"
                    for name, frs in (
                        ("joined", raw.get("joined_cues") or []),
                        ("attend", raw.get("attend_cues") or []),
                        ("video", cues.get("video") or []),
                        ("phone", cues.get("phone") or []),
                        ("cue", cues.get("in_person") or []),
                    )
                )
            ),
            flags,
        ),
        joined_re=re.compile(wrap(_alt(raw.get("joined_cues") or [])), flags)
        if raw.get("joined_cues")
        else None,
        place_title_gap_re=re.compile(str(raw["place_title_gap"])) if raw.get("place_title_gap") else None,
        modifier_lowercase=raw.get("modifier_before") == "lowercase",
        name_stops=tuple(sorted((str(x) for x in raw.get("name_stops") or []), key=len, reverse=True)),
    )


def available_languages() -> tuple[str, ...]:
    """Languages that have a pack file."""
    return tuple(sorted(p.stem for p in _DIR.glob("*.yaml")))


@functools.cache
def load_pack(language: str) -> Pack | None:
    """The compiled pack of ``language`` (``zh-Hant``/``zh-TW`` use ``zh``), or None when there is none."""
    lang = (language or "").lower().split("-")[0].split("_")[0]
    path = _DIR / f"{lang}.yaml"
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        raw = yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # libyaml when present
    return _compile(raw)

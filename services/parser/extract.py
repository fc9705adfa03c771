"""Meeting extraction: article -> meeting claims (language-pack cues, gazetteers, office-holder registry).

The heuristic, in order (every step is data-driven; see ``packs/<lang>.yaml``):

1. Split the text into sentences; find every title mention ("Foreign Minister", "外长", "министр иностранных
   дел") and attach to it the adjacent state/organisation ("Kenya's", "of Iran", "斯洛文尼亚", "России")
   and the adjacent name ("Aldo Verano", "李明", "Арманом Сейтовым"); they form the article's table of people.
2. A sentence states a meeting when it holds a meeting cue ("held talks", "会见", "телефонный разговор")
   and no negative cue (condolences, briefings, statements, past background). A planned cue
   ("will visit", "将于") makes the claim ``planned``.
3. Its participants are the people mentioned in it (titles, known names, first person = the release's author);
   a person without a state takes the registry's, or the publisher's own state ("the Minister").
4. At least two different parties are needed. With more than two, the sentence's subject meets each
   other party separately, unless a multilateral cue ("trilateral", "四方") makes it one meeting.
5. Date, mode, place and "sidelines of" come from the sentence, falling back to the dateline.
6. Claims about the same parties and mode are merged (one record per distinct meeting).
"""

from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from services.core.domain import Article, MeetingClaim, Mode, Participant
from services.parser.dates import parse_dateline, resolve_date
from services.parser.errors import ParseError
from services.parser.gazetteer import Gazetteer, Mention
from services.parser.langdetect import detect_language
from services.parser.packs import ROLE_PRIORITY, Pack, load_pack

__all__ = ["extract_meetings", "record_for", "split_sentences"]

_ABBREV = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Gen|Lt|Col|Hon|No|Nos|Art|vs|etc|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|"
    r"Nov|Dec|U\.S|U\.K|U\.N|H\.E|г|гг|т\.е|им|ул)|\b[A-ZА-ЯЁ])\.$"
)
# a run of spaces separates sentences in flattened layouts, except after a comma (a list that goes on)
_SENT_LATIN = re.compile(
    r"(?<=[.!?؟])[\"”»’']?\s+(?=[\"“«]?[A-ZА-ЯЁ0-9\u0621-\u064a])|\n+|(?<![,;:])\s{3,}|\t+"
)
_SENT_CJK = re.compile(r"(?<=[。！？；])|\n+|\t+|\s{2,}")
_WS = re.compile(r"[ \u00a0\u3000]+")
# capitals of the Latin script, accented ones included ("Çavuşoğlu", "Ángel", "Özdemir", "Şahin")
_UPPER = "A-ZÀ-ÖØ-Þ" + "".join(c for c in map(chr, range(0x100, 0x250)) if c.isupper())
_CAP_TOKEN = re.compile(
    rf"[{_UPPER}][\w'’‘ʻ\-\.]*|(?:al|el|bin|ibn|de|da|van|von|der|le|la|du|dos|del|di|y)(?:-| )"
)
# a case ending after an apostrophe ends the name: "Lavrov'la", "Kamilov'u", "Pekin'i"
_CASE_ENDING = re.compile(r"^(.+?)['’]([a-zçğıöşü]{1,5})$")
_CAP_RU = re.compile(r"[А-ЯЁӘҒҚҢӨҰҮҺІ][а-яёәғқңөұүһіА-ЯЁӘҒҚҢӨҰҮҺІ\-]*(?:\.[А-ЯЁ]\.?)?")
_CJK_NAME = re.compile(r"[\u4e00-\u9fff·・•\u30fb]+")
_NAME_PARTICLES = frozenset(
    {
        "al",
        "el",
        "bin",
        "ibn",
        "de",
        "da",
        "van",
        "von",
        "der",
        "le",
        "la",
        "du",
        "dos",
        "del",
        "di",
        "bint",
        "abu",
    }
)
_TOPICS: dict[str, tuple[str, ...]] = {
    "trade": ("trade", "торгов", "贸易", "经贸"),
    "economy": ("econom", "эконом", "经济"),
    "investment": ("invest", "инвестиц", "投资"),
    "energy": ("energy", "oil", "gas", "энергет", "能源"),
    "transport": ("transport", "транспорт", "交通", "运输"),
    "logistics": ("logistic", "логистик", "物流"),
    "security": ("security", "terror", "безопасност", "安全"),
    "defence": ("defence", "defense", "military", "оборон", "военн", "防务", "军事"),
    "culture": ("cultur", "культур", "文化"),
    "education": ("educat", "образован", "教育"),
    "health": ("health", "covid", "pandemic", "vaccine", "здравоохран", "пандеми", "卫生", "疫情", "抗疫"),
    "environment": ("climate", "environment", "климат", "экологи", "气候", "环境"),
    "agriculture": ("agricultur", "сельск", "农业"),
    "technology": ("technolog", "digital", "технолог", "科技", "数字"),
    "tourism": ("touris", "туризм", "旅游"),
    "migration": ("migra", "refugee", "миграц", "беженц", "移民", "难民"),
    "humanitarian": ("humanitarian", "гуманитарн", "人道"),
    "consular": ("consular", "visa", "консульск", "визов", "领事", "签证"),
    "regional": ("regional", "региональн", "地区", "区域"),
    "multilateral": ("multilateral", "многосторонн", "多边"),
}


@dataclass
class _Person:
    """A person mention: a title (role) with its state/organisation and name, or a known name alone."""

    start: int
    end: int
    role: str
    title: str | None
    country: str | None
    org: str | None
    name: str | None
    name_printed: str | None
    person_id: str | None = None
    cue: str = "title"
    aliases: tuple[str, ...] = ()
    end_name: int = -1

    @property
    def party(self) -> str | None:
        if self.country:
            return self.country
        if self.org:
            return "ORG:" + self.org
        return None


@dataclass
class _Claim:
    people: list[_Person]
    day: date | None
    mode: Mode
    mode_specific: bool
    status: str
    city: str | None
    loc_country: str | None
    sidelines: str | None
    evidence: str
    cue: str
    explain: dict[str, Any] = field(default_factory=dict)
    subject: _Person | None = None
    # the sentence states the day itself (not a fallback to the lede, dateline or publication day)
    dated: bool = False


# --------------------------------------------------------------------------------------------- sentences


def split_sentences(text: str, pack: Pack) -> list[tuple[int, str]]:
    """Sentences with their start offsets. Latin/Cyrillic: end punctuation before a capital (not after an
    abbreviation or initial); CJK: 。！？; paragraphs and wide gaps always end a sentence."""
    rx = _SENT_CJK if not pack.bounded else _SENT_LATIN
    out: list[tuple[int, str]] = []
    start = 0
    for m in rx.finditer(text):
        if m.start() == start and m.end() == m.start():
            continue
        chunk = text[start : m.start()]
        if (
            pack.bounded
            and m.group(0).strip() == ""
            and "\n" not in m.group(0)
            and _ABBREV.search(chunk[-6:])
        ):
            continue
        if chunk.strip():
            out.append((start, chunk))
        start = m.end()
    if text[start:].strip():
        out.append((start, text[start:]))
    return out


# --------------------------------------------------------------------------------------------- registry


_REG_CACHE: dict[str, Any] = {}


def _registry() -> Any:
    """The office-holder registry when it is available (degrades to None while it is not installed)."""
    if "reg" in _REG_CACHE:
        return _REG_CACHE["reg"]
    reg: Any = None
    try:
        from services.parser.registry import Registry

        reg = Registry.default()
        if len(reg) == 0:
            reg = None
    except Exception:  # noqa: BLE001 - a missing or broken registry must not stop extraction
        reg = None
    _REG_CACHE["reg"] = reg
    return reg


_WORD = re.compile(r"\w+")


_NAME_GOES_ON = re.compile(r"[ \t]+[A-ZА-ЯЁ][a-zа-яё]+")


class _NameMatcher:
    """Leftmost-longest matching of many literal names by dictionary look-ups, not one huge regex.

    Compiling a regex over the registry's tens of thousands of variants took longer than a whole batch of
    extractions; a dict keyed by a name's first word builds in milliseconds.
    Spaced scripts: a phrase matches at
    a word start, its spaces match any whitespace run and it must end at a word boundary; a phrase ending in
    ``*`` is a stem (any word characters may follow). Han: the longest stored name starting at each character.
    """

    def __init__(self, phrases: set[str], han: bool) -> None:
        self.han = han
        self.whole: set[str] = set()
        self.lengths: list[int] = []
        self.first: dict[str, list[tuple[str, ...]]] = {}
        self.stems: dict[str, list[tuple[str, ...]]] = {}
        self.initials: frozenset[str] = frozenset()
        if han:
            self.whole = phrases
            self.lengths = sorted({len(p) for p in phrases}, reverse=True)
            return
        for ph in phrases:
            words = tuple(ph.split())
            lead = _WORD.match(words[0]) if words else None
            if lead is None:
                continue
            key = lead.group(0)
            table = self.stems if len(words) == 1 and words[0] == key + "*" else self.first
            table.setdefault(key, []).append(words)
        for table in (self.first, self.stems):
            for cands in table.values():
                cands.sort(key=lambda w: -sum(len(x) for x in w))
        # most words of a sentence cannot start a name: one set look-up rules them out
        self.initials = frozenset(k[0] for table in (self.first, self.stems) for k in table)
        # the words that can start a name, found by the regex engine rather than a loop over every word
        self._starts = re.compile(
            r"(?<!\w)[" + "".join(re.escape(c) for c in sorted(self.initials)) + r"]\w*"
            if self.initials
            else r"(?!)"
        )

    def finditer(self, text: str) -> list[tuple[int, str]]:
        """Non-overlapping (start, matched text) pairs, left to right."""
        out: list[tuple[int, str]] = []
        if self.han:
            i, n = 0, len(text)
            while i < n:
                for k in self.lengths:
                    if i + k <= n and text[i : i + k] in self.whole:
                        out.append((i, text[i : i + k]))
                        i += k
                        break
                else:
                    i += 1
            return out
        pos = 0
        for w in self._starts.finditer(text):
            start = w.start()
            if start < pos:
                continue
            word = w.group(0)
            end = self._match_at(text, start, self.first.get(word, ()))
            if end < 0:
                for k in range(len(word), 2, -1):
                    cands = self.stems.get(word[:k])
                    if cands:
                        end = self._match_at(text, start, cands)
                        if end >= 0:
                            break
            if end >= 0:
                out.append((start, text[start:end]))
                pos = end
        return out

    @staticmethod
    def _match_at(text: str, start: int, cands: Iterable[tuple[str, ...]]) -> int:
        best = -1
        n = len(text)
        for words in cands:
            i = start
            ok = True
            for j, wd in enumerate(words):
                if j:
                    k = i
                    while k < n and text[k].isspace():
                        k += 1
                    if k == i:
                        ok = False
                        break
                    i = k
                stem = wd.endswith("*") and j == len(words) - 1
                lit = wd[:-1] if stem else wd
                if not text.startswith(lit, i):
                    ok = False
                    break
                i += len(lit)
                if stem:
                    while i < n and (text[i].isalnum() or text[i] == "_"):
                        i += 1
            if ok and not (i < n and (text[i].isalnum() or text[i] == "_")) and i > best:
                best = i
        return best


def _registry_matcher(script: str) -> _NameMatcher | None:
    """A matcher over the registry's name variants (and surnames) of one script, built once per process."""
    key = "rx:" + script
    if key in _REG_CACHE:
        return _REG_CACHE[key]  # type: ignore[no-any-return]
    reg = _registry()
    rx: _NameMatcher | None = None
    if reg is not None and hasattr(reg, "names_index"):
        phrases: set[str] = set()
        for variant, _term in reg.names_index():
            v = str(variant).strip()
            if not v:
                continue
            if _CJK_NAME.fullmatch(v):
                if script == "han" and len(v) >= 2:
                    phrases.add(v)
                    tail = re.split(r"[·・•]", v)[-1]
                    if len(tail) >= 2 and tail != v:
                        phrases.add(tail)
                continue
            cyr = bool(re.search(r"[\u0400-\u04ff]", v))
            if (script == "cyrillic") != cyr or script == "han":
                continue
            words = v.split()
            if len(words) >= 2:
                phrases.add(v)
            last = words[-1]
            if " of " in f" {v} " or " из " in f" {v} ":
                # "Willem-Alexander of the Netherlands": the last word is a realm, not a surname
                continue
            if len(last) >= 4 and last[:1].isupper():
                phrases.add(
                    last[:-1] + "*" if cyr and last[-1] in "аяоеийь" else (last + "*" if cyr else last)
                )
        if phrases:
            rx = _NameMatcher(phrases, script == "han")
    _REG_CACHE[key] = rx
    return rx


@functools.lru_cache(maxsize=8192)
def _lookup(name: str, on: date | None) -> Any:
    reg = _registry()
    if reg is None or not name:
        return None
    try:
        terms = reg.by_name(name, on)
    except Exception:  # noqa: BLE001
        return None
    return terms[0] if terms else None


# --------------------------------------------------------------------------------------------- names


_RU_ENDINGS = (("еем", "ей"), ("аем", "ай"), ("ием", "ий"), ("ым", ""), ("ом", ""), ("ой", "а"), ("ем", ""))


def _ru_nominative(token: str) -> str:
    """Instrumental case of a Russian name to its nominative ("Арманом Сейтовым" -> "Арман Сейтов")."""
    for end, rep in _RU_ENDINGS:
        if token.endswith(end) and len(token) > len(end) + 2:
            return token[: -len(end)] + rep
    return token


_CAPS_FUNCTION_WORDS = frozenset({"for", "of", "and", "the", "to", "in", "on", "with", "at", "by", "from"})


def _latin_name_after(s: str, pack: Pack) -> str | None:
    """Capitalised tokens at the start of ``s`` (after honorifics): "Dr Omar Tahany, visited" -> name."""
    s = s.lstrip(" ,")
    m = pack.honorific_re.match(s)
    if m:
        s = s[m.end() :]
    tokens: list[str] = []
    pos = 0
    while pos < len(s) and len(tokens) < 6:
        while pos < len(s) and s[pos] == " ":
            pos += 1
        m2 = _CAP_TOKEN.match(s, pos)
        if not m2:
            break
        tok = m2.group(0).strip()
        bare = tok.rstrip(".,’'")
        if tok.lower().rstrip("- ") in _NAME_PARTICLES and not (tok[:1].isupper() and not tokens):
            if not tokens:
                break
            tokens.append(tok.rstrip(" "))
            pos = m2.end()
            continue
        if bare in pack.not_names or bare.rstrip("s") in pack.not_names:
            break
        if bare.endswith("’s") or bare.endswith("'s"):
            tokens.append(bare[:-2])
            break
        ending = _CASE_ENDING.match(bare)
        if ending:
            tokens.append(ending.group(1))
            break
        tokens.append(bare)
        pos = m2.end()
        if tok.endswith(".") and len(bare) > 2:
            break
    while tokens and tokens[-1].lower().rstrip("- ") in _NAME_PARTICLES:
        tokens.pop()
    tokens = [t for t in tokens if not any(ch.isdigit() for ch in t)]
    name = " ".join(t for t in tokens).replace("- ", "-").strip()
    if not name or len(name) < 2:
        return None
    if name.isupper():
        # a name in a capitals header ("ALDO VERANO"): keep it, in ordinary case
        if len(tokens) < 2 or any(t.lower() in _CAPS_FUNCTION_WORDS for t in tokens):
            # "MINISTER FOR PUBLIC WORKS": a headline's portfolio, not a name
            return None
        name = " ".join(t.capitalize() for t in name.split())
    return name


def _latin_name_before(s: str, pack: Pack) -> str | None:
    """A name right before a title: "Omar Tahany, Egypt's Foreign Minister" (``s`` ends at the comma)."""
    m = re.search(r"((?:[A-Z][\w'’\-]*\s+){0,3}[A-Z][\w'’\-]*)\s*,\s*(?:the\s+)?$", s)
    if not m:
        return None
    toks = [t for t in m.group(1).split() if t not in pack.not_names]
    if not toks or len(toks) != len(m.group(1).split()):
        return None
    return " ".join(toks)


def _strip_case_ending(name: str, pack: Pack) -> str:
    """A name without the case ending of its last word ("Ван Имен" -> "Ван И", "Көшербаевпен" ->
    "Көшербаев"), for packs that list the endings; the stem keeps at least two letters."""
    words = name.split()
    last = words[-1]
    for end in sorted((str(x) for x in pack.raw.get("name_suffixes") or []), key=len, reverse=True):
        if last.endswith(end) and len(last) - len(end) >= 1 and (len(words) > 1 or len(last) - len(end) >= 3):
            words[-1] = last[: -len(end)]
            break
    return " ".join(words)


# Arabic name particles written in Cyrillic: lower-case, between the capitalised parts of a name
_RU_PARTICLE = re.compile(r"(бен|бин|ибн|аль|аль-|ад|ас|ан|эль|ар)\s+")


def _ru_name_after(s: str, pack: Pack) -> str | None:
    s = s.lstrip(" ,")
    m = pack.honorific_re.match(s)
    if m:
        s = s[m.end() :]
    tokens: list[str] = []
    pos = 0
    words = 0
    while words < 3:
        while pos < len(s) and s[pos] == " ":
            pos += 1
        particle = _RU_PARTICLE.match(s, pos) if tokens else None
        if particle is not None and _CAP_RU.match(s, particle.end()):
            # "Фейсал бен Фархан Аль Сауд", "Абдалла бин Зайед": a particle joins the next capitalised word
            tokens.append(particle.group(1))
            pos = particle.end()
            words -= 1  # the particle and its word count as one
            continue
        m2 = _CAP_RU.match(s, pos)
        if not m2:
            break
        tok = m2.group(0)
        # a one-letter capital inside a name is a syllable ("Ван И"), not the sentence-initial "И"
        short_syllable = bool(tokens) and len(tok) == 1
        if (tok in pack.not_names and not short_syllable) or (tok.isupper() and len(tok) > 1):
            break
        tokens.append(tok)
        pos = m2.end()
        words += 1
    return " ".join(tokens) or None


_AR_WORD = re.compile(r"[\u0621-\u064a\u0671-\u06d3]+")


def _ar_name_after(s: str, pack: Pack) -> str | None:
    """Arabic words after a title (and honorifics) up to a stop word or punctuation: two to six words."""
    s = s.lstrip(" ،,")
    m = pack.honorific_re.match(s)
    if m:
        s = s[m.end() :]
    stops = frozenset(pack.name_stops)
    tokens: list[str] = []
    pos = 0
    while len(tokens) < 6:
        while pos < len(s) and s[pos] == " ":
            pos += 1
        m2 = _AR_WORD.match(s, pos)
        if not m2 or m2.group(0) in stops:
            break
        if pack.event_re is not None and pack.event_re.match(s, pos) or pack.title_re.match(s, pos):
            break  # "أجرى الوزير سامح شكري اتصالا هاتفيا": the name ends at the cue
        tokens.append(m2.group(0))
        pos = m2.end()
    return " ".join(tokens) if len(tokens) >= 2 else None


def _cjk_cut(run: str, pack: Pack, from_right: bool) -> str:
    """The name part of a run of Han characters, cut at the first verb/preposition of the pack."""
    if from_right:
        best = 0
        for stop in pack.name_stops:
            i = run.rfind(stop)
            if i >= 0:
                best = max(best, i + len(stop))
        return run[best:]
    cut = len(run)
    for stop in pack.name_stops:
        # one-character stops also occur inside names ("魏凤和"): only after the usual two-character minimum,
        # and "和" only after three
        lo = 0 if len(stop) > 1 else (3 if stop == "和" else 2)
        i = run.find(stop, lo)
        if 0 <= i < cut:
            cut = i
    name = run[:cut]
    if name and (
        name[0] in str(pack.raw.get("name_bad_first") or "")
        or name[-1] in str(pack.raw.get("name_bad_last") or "")
    ):
        return ""
    return name


def _cjk_name_after(s: str, pack: Pack) -> str | None:
    m = _CJK_NAME.match(s)
    if not m:
        return None
    name = _cjk_cut(m.group(0), pack, from_right=False)
    max_len = int(pack.raw.get("name_max", 10))
    if len(name) < 2 or len(name) > max_len:
        return None
    return name


def _single_han_surname(s: str, name: str, pack: Pack) -> bool:
    """Whether a lone Han character before a title is a surname: only right after the pack's
    ``single_han_after`` particle ("…の朴外相") and not one of its ``single_han_not`` prefixes
    (新, 前, 元…)."""
    after = pack.raw.get("single_han_after")
    if not after or not "\u4e00" <= name <= "\u9fff":
        return False
    if name in str(pack.raw.get("single_han_not") or ""):
        return False
    return s[: len(s) - len(name)].endswith(str(after))


def _cjk_name_before(s: str, pack: Pack) -> str | None:
    m = re.search(r"[\u4e00-\u9fff\u30a0-\u30ff·・ー]+$", s)
    if not m:
        return None
    name = _cjk_cut(m.group(0), pack, from_right=True)
    if pack.script == "han" and len(name) > 2:
        # "落实好习近平主席": a registry name that ends the run is the whole name
        rx = _registry_matcher("han")
        known = rx.whole if rx is not None else set()
        tail = next((name[k:] for k in range(1, len(name) - 1) if name[k:] in known), None)
        if tail is not None and name not in known:
            name = tail
    if len(name) == 1 and _single_han_surname(s, name, pack):
        # "韓国の朴外相": Japanese press writes a Korean or Chinese surname as one character
        return name
    if len(name) < 2 or len(name) > int(pack.raw.get("name_max", 10)):
        return None
    if name[0] in str(pack.raw.get("name_bad_first") or "") or name[-1] in str(
        pack.raw.get("name_bad_last") or ""
    ):
        return None
    return name


# --------------------------------------------------------------------------------------------- people


_GAP_BEFORE = re.compile(r"^(?:[ \t]*(?:[’']s|的|the)?[ \t]*|[ \t]*-[ \t]*)$", re.IGNORECASE)
_GAP_AFTER = re.compile(
    r"^\s*(?:of|for|from|at)\s+(?:the\s+)?$|^\s*,?\s*$|^\s*(?:de|du|des|de la|de l['’])\s*$"
    # the state's formal style before its name: "Министром иностранных дел Республики Казахстан"
    r"|^\s*(?:(?:Исламск|Федеративн|Объединенн|Объединённ|Социалистическ|Народн|Демократическ)\w*\s+)?"
    r"(?:Республик|Королевств|Государств|Султанат|Княжеств|Эмират|Федераци)\w*\s+$",
    re.IGNORECASE,
)
_GAP_LIST = re.compile(
    r"^\s*(?:,|and|и|、|和|，)\s*(?:the\s+)?$|^\s*,\s*(?:and|и)\s+(?:the\s+)?$", re.IGNORECASE
)
_GENERIC_LOWER = frozenset(
    {
        "president",
        "king",
        "leader",
        "speaker",
        "chairman",
        "minister",
        "premier",
        "director",
        "adviser",
        "advisor",
        "governor",
        "mayor",
        "envoy",
        "ambassador",
        "commissioner",
    }
)
# several meetings, one per state of a list ("held bilateral meetings with counterparts from A, B and C")
_SEPARATE = re.compile(
    r"(?i)\bbilateral meetings\b|\bseparate(?:ly| meetings)\b|по отдельности|отдельные встречи|分别"
    r"|との(?:外相|首脳)会談"  # "A、B、Cとの外相会談": a bilateral meeting with each
)
_COLLEAGUE = re.compile(
    r"(?i)(?:\b(?:my|our) (?:\w+ )?colleagues?|мо(?:й|им|его|ему) коллег\w*|我的同事),?\s*(?:the\s+)?$"
)
_POSTED_TO = frozenset("驻駐")
_GAP_CHAIN = re.compile(r"^\s*(?:,|and|&|и|、|兼|，)?\s*(?:the\s+)?$", re.IGNORECASE)


def _place_before(text: str, s: int, places: list[Mention], pack: Pack) -> Mention | None:
    """The state/organisation right before a title.

    Examples: "Kenya's Minister", "斯洛文尼亚外长", "российским министром",
    or a delegation's state ("the Turkish delegation headed by Foreign Minister")."""
    for p in reversed(places):
        if p.end > s:
            continue
        gap = text[p.end : s]
        near = s - p.end <= 6 and _GAP_BEFORE.match(gap)
        if not near and pack.place_title_gap_re is not None and s - p.end <= 18:
            # "毛社会保障部长": the ministry's 部 is also the first character of the title 部长
            near = pack.place_title_gap_re.match(gap) or (
                "\u4e00" <= text[s : s + 1] <= "\u9fff" and pack.place_title_gap_re.match(gap + text[s])
            )
        if p.kind != "city" and near:
            if (
                pack.modifier_lowercase
                and p.kind == "country"
                and not (p.text[:1].islower() or p.text.isupper())
            ):
                return None
            return p
        if (
            p.kind != "city"
            and pack.delegation_re is not None
            and s - p.end <= 40
            and pack.delegation_re.match(gap)
        ):
            return p
        if s - p.end > 40:
            return None
    return None


def _places_list_before(text: str, first: Mention | None, places: list[Mention]) -> list[Mention]:
    """The list of states that ends right before a title ("his British, Norwegian and Spanish ministers")."""
    if first is None:
        return []
    out = [first]
    idx = places.index(first)
    for p in reversed(places[:idx]):
        if p.kind == "city" or not _GAP_LIST.match(text[p.end : out[-1].start]):
            break
        out.append(p)
    return list(reversed(out))


def _places_after(text: str, e: int, places: list[Mention], pack: Pack) -> list[Mention]:
    """States/organisations right after a title: "of Iran", "России", "of Spain, Latvia and Poland"."""
    out: list[Mention] = []
    pos = e
    for p in places:
        if p.start < pos:
            continue
        gap = text[pos : p.start]
        if p.kind == "city":
            if out or p.start - pos > 12:
                break
            continue
        ok = _GAP_AFTER.match(gap) if not out else _GAP_LIST.match(gap)
        if not ok or p.start - pos > (40 if gap.strip()[:1].isupper() else 14):
            break
        out.append(p)
        pos = p.end
    return out


def _people(
    text: str, pack: Pack, places: list[Mention], source_country: str | None, on: date | None
) -> list[_Person]:
    """Every title mention of the text with its adjacent state/organisation and name."""
    titles = [(m.start(), m.end(), m.group(0)) for m in pack.finditer(pack.title_re, text)]
    chains: list[list[tuple[int, int, str]]] = []
    for t in titles:
        if chains and _GAP_CHAIN.match(text[chains[-1][-1][1] : t[0]]) and t[0] - chains[-1][-1][1] < 8:
            chains[-1].append(t)
        else:
            chains.append([t])
    out: list[_Person] = []
    for chain in chains:
        s, e = chain[0][0], chain[-1][1]
        title = text[s:e]
        roles = [pack.role_of(t[2]) for t in chain]
        role = next((r for r in ROLE_PRIORITY if r in roles), "official")
        blockers = pack.raw.get("title_blockers") or []
        if any(text.startswith(str(b), e) for b in blockers):
            continue
        plural = bool(
            pack.plural_re and pack.plural_re.search(chain[0][2] if pack.script == "cyrillic" else title)
        )
        before = _place_before(text, s, places, pack)
        posted_to: str | None = None
        if before is not None and before.start > 0 and text[before.start - 1] in _POSTED_TO:
            # "驻毛里求斯大使": the state after 驻 receives the ambassador; the sender is named before 驻
            # ("日本驻毛里求斯大使") or, in a release of the sending state, left to the publisher
            posted_to = before.code
            before = _place_before(text, before.start - 1, places, pack)
        after = [] if pack.language == "zh" else _places_after(text, e, places, pack)
        if plural:
            states = after or _places_list_before(text, before, places)
            for p in states:
                # an organisation in a list of states ("A、B、EUとの外相会談") takes part as such: a state's
                # office does not fit it, and _split would drop it as read off a format's name
                out.append(
                    _Person(
                        s,
                        e,
                        role if p.kind == "country" else "official",
                        title,
                        p.code if p.kind == "country" else None,
                        p.code if p.kind == "org" else None,
                        None,
                        None,
                        cue="title-list",
                    )
                )
            continue
        country: str | None = None
        org: str | None = None
        if before is None and not after:
            # offices that belong to one state ("国务院总理", "国務長官"), from the pack
            tc_map = pack.raw.get("title_country") or {}
            tc = next((tc_map[t[2]] for t in chain if t[2] in tc_map), None)
            if tc:
                before_country: str | None = str(tc)
            else:
                before_country = None
        else:
            before_country = None
        inside = next((p for p in places if s <= p.start and p.end <= e and p.kind != "city"), None)
        # "le ministre russe des Affaires étrangères": the state inside the title
        anchor = before or (after[0] if after else None) or inside
        if anchor is None and before_country is not None:
            country = before_country
        if anchor is not None:
            if anchor.kind == "country":
                country = anchor.code
            else:
                org = anchor.code
                if role in ("head_of_state", "head_of_government", "deputy_head_of_state"):
                    # "the President of the African Union", "欧洲理事会主席": heads an organisation
                    role = "org_head"
        after_end = after[0].end if (before is None and after) else e
        # "the Ambassador of Japan to Kazakhstan": skip the receiving state
        tail = text[after_end : after_end + 120]
        mt = re.match(r"^\s*(?:to|in|в|на)\s+(?:the\s+)?", tail)
        if mt:
            nxt = next((p for p in places if p.start == after_end + mt.end()), None)
            if nxt is not None:
                after_end = nxt.end
                tail = text[after_end : after_end + 120]
        name: str | None = None
        if pack.raw.get("name_position") == "before":
            # "アメリカのスミス国務長官", "ジョン・スミス・カナダ外務大臣"
            stop = before.start if before is not None else s
            window = text[max(0, stop - 20) : stop].rstrip("・")
            name = _cjk_name_before(window, pack)
            if name is not None and country is None and org is None:
                k = max(0, stop - 20) + len(window) - len(name)  # where the name starts
                pl = next(
                    (p for p in places if p.kind != "city" and p.end <= k and text[p.end : k] in ("", "の")),
                    None,
                )
                if pl is not None:
                    country, org = (pl.code, None) if pl.kind == "country" else (None, pl.code)
            tc = (pack.raw.get("title_country") or {}).get(title)
            if country is None and org is None and tc:
                country = str(tc)
        elif pack.language == "zh":
            name = _cjk_name_after(tail, pack)
            if name is None:
                lo = max([s - 12] + [p.end for p in places if p.end <= s])
                name = _cjk_name_before(text[max(0, lo) : s], pack)
        elif pack.script == "cyrillic":
            name = _ru_name_after(tail, pack)
        elif pack.script == "arabic":
            name = _ar_name_after(tail, pack)
        else:
            name = _latin_name_after(tail, pack)
            if name is not None:
                k = tail.find(name.split()[-1])
                rest = tail[k + len(name.split()[-1]) :] if k >= 0 else ""
                following = re.sub(r"^\s*,\s*(?:the\s+)?(?:[A-Z][\w’']*(?:’s|'s)?\s+)?", "", rest)
                nxt_title = pack.title_re.match(following)
                if (
                    pack.raw.get("comma_name_to_next_title", True)
                    and re.match(r"^\s*,\s*(?:the\s+)?(?:[A-Z][\w’']*\s+){0,2}", rest)
                    and nxt_title
                    and pack.role_of(nxt_title.group(0)) != "counterpart"
                ):
                    # "Dr Arif Santoso, Indonesian Minister ...": that name belongs to the next title
                    name = None
            if name is None:
                name = _latin_name_before(text[max(0, s - 60) : s], pack)
            if name is not None and any(p.start <= s and p.text == name for p in places):
                name = None
            if name is not None and country is None and org is None:
                # "Prime Minister Ravi Mehran of India"
                k = text.find(name, e, e + 120)
                mo = (
                    re.match(r"\s+of\s+(?:the\s+)?", text[k + len(name) : k + len(name) + 12])
                    if k >= 0
                    else None
                )
                if mo is not None:
                    at = k + len(name) + mo.end()
                    pl = next((p for p in places if p.start == at and p.kind != "city"), None)
                    if pl is not None:
                        country, org = (pl.code, None) if pl.kind == "country" else (None, pl.code)
        if (
            pack.language == "en"
            and title[:1].islower()
            and title.lower() in _GENERIC_LOWER
            and country is None
            and org is None
            and name is None
        ):
            # a lower-case generic noun with nothing attached ("the president of the company") is not a title
            continue
        if country is None and org is None and posted_to is not None and source_country != posted_to:
            country = source_country
        if country is None and org is None and source_country and _COLLEAGUE.search(text, max(0, s - 40), s):
            # "my colleague, the Minister for Trade": the speaker's own government
            country = source_country
        if country is None and org is None and out and _list_gap(text, out[-1].end_name, s, pack):
            # "某国总统甲、总理乙": a list shares its state
            country, org = out[-1].country, out[-1].org
        printed = name
        canon = name
        if name and pack.raw.get("name_suffixes"):
            canon = _strip_case_ending(name, pack)
        elif name and pack.script == "cyrillic":
            canon = " ".join(_ru_nominative(t) for t in name.split())
        person = _Person(s, e, role, title, country, org, canon, printed)
        person.end_name = e
        if name:
            k = text.find(name, after_end, after_end + 160)
            person.end_name = k + len(name) if k >= 0 else e
        out.append(person)
        if before is not None and before.pair and name is None and before.pair != country:
            # "日ロ外相会談": the title of a pair abbreviation is held on both sides
            out.append(_Person(s, e, role, title, before.pair, None, None, None, cue="pair"))
        if name and pack.language == "zh":
            out.extend(_zh_shared_title(text, person, pack, places))
    return out


_ZH_NEXT_NAME = re.compile(r"、([\u4e00-\u9fff·]{2,8}?)(?=[、，,。；;]|等)")


def _list_gap(text: str, prev_end: int, s: int, pack: Pack) -> bool:
    """Whether a title continues a list that shares the previous item's state.

    "某国总统甲、总理乙" (only "、" between) and "毛甲部长A、乙部长B" (a ministry of the same state between).
    """
    gap = text[prev_end:s]
    if re.fullmatch(r"\s*、\s*", gap):
        return True
    rx = pack.place_title_gap_re
    if rx is None or not gap.startswith("、") or len(gap) < 2:
        return False
    han_title = "\u4e00" <= text[s : s + 1] <= "\u9fff"
    return bool(rx.match(gap[1:]) or (han_title and rx.match(gap[1:] + text[s])))


_DENG_WORD_FIRST = frozenset("平相均同对對不高初中")


def _zh_shared_title(text: str, first: _Person, pack: Pack, places: list[Mention]) -> list[_Person]:
    """Names listed after a titled name share its title and state ("副总理戈利科娃、诺瓦克、特鲁特涅夫等").
    A listed item that holds a title or a place of its own is not such a name."""
    out: list[_Person] = []
    pos = first.end_name
    bad_first = str(pack.raw.get("name_bad_first") or "")
    while pos > 0:
        m = _ZH_NEXT_NAME.match(text, pos)
        if m is None:
            break
        cand, at = m.group(1), m.start(1)
        if (
            pack.title_re.search(cand)
            # "、性别平等和家庭福利部长": 等 ends a word ("平等"), not the list
            or (text.startswith("等", m.end(1)) and cand[-1] in _DENG_WORD_FIRST)
            or cand[0] in bad_first
            or any(p.start < m.end(1) and at < p.end for p in places)
        ):
            break
        out.append(
            replace(first, start=at, end=m.end(1), name=cand, name_printed=cand, person_id=None, aliases=())
        )
        out[-1].end_name = m.end(1)
        pos = m.end(1)
    return out


def _resolve_person(
    p: _Person, on: date | None, source_country: str | None, table: dict[str, _Person]
) -> _Person:
    """Fill a mention's missing state from the registry, the article's table of people, or the publisher."""
    term = _lookup(p.name or "", on) if p.name else None
    if term is not None:
        if _registry_state_wins(p, term, on):
            # "Italian prime minister Giuseppe Conte, and Emir of Qatar ...": a list's neighbouring state
            # was read onto a full name the registry places, unambiguously, in another state
            p.country = str(term.country)
        if p.country is None and p.org is None:
            p.country = getattr(term, "country", None)
            p.org = getattr(term, "org", None)
        if (
            p.role in _WEAK_ROLES
            and _generic_title(p.title)
            and getattr(term, "role", None)
            and p.country in (None, term.country)
            and (on is None or not hasattr(term, "active") or term.active(on, 3650))
        ):
            # "Minister Verano": the registry knows which minister
            p.role = str(term.role)
        if getattr(term, "name", None) and (p.country or "") == (
            getattr(term, "country", None) or p.country or ""
        ):
            p.aliases = tuple({*p.aliases, *(x for x in (p.name_printed,) if x)})
            p.name = str(term.name)
            p.person_id = getattr(term, "person_id", None)
    if p.party is None and p.name:
        known = _table_find(table, p.name)
        if known is not None and known is not p and known.party:
            p.country, p.org = known.country, known.org
    if p.party is None and source_country:
        p.country = source_country
    return p


def _registry_state_wins(p: _Person, term: Any, on: date | None) -> bool:
    """A full name (two words or more) printed as the registry has it, every office-holder of that name in
    one state, and that state not the one read from the text."""
    country = getattr(term, "country", None)
    if not country or not p.country or p.org is not None or p.country == country or not p.name:
        return False
    if len(p.name.split()) < 2 or p.name.casefold() not in {
        str(x).casefold() for x in (getattr(term, "name", None), *(getattr(term, "variants", ()) or ())) if x
    }:
        return False
    reg = _registry()
    try:
        terms = reg.by_name(p.name, on) if reg is not None else []
    except Exception:  # noqa: BLE001
        return False
    return bool(terms) and all(getattr(t, "country", None) == country for t in terms)


def _name_key(name: str) -> str:
    toks = re.split(r"[\s\-·・•.]+", name.strip())
    toks = [t for t in toks if t]
    return toks[-1].lower()[:6] if toks else ""


def _table_find(table: dict[str, _Person], name: str) -> _Person | None:
    if not name:
        return None
    if name in table:
        return table[name]
    key = _name_key(name)
    return table.get("#" + key)


# --------------------------------------------------------------------------------------------- main


def _sideline(sentence: str, pack: Pack) -> str | None:
    m = pack.sideline_re.search(sentence)
    if not m:
        return None
    if pack.language == "zh":
        before = sentence[: m.start()]
        mm = re.search(r"(?:出席|参加|在)([^，。、]{2,30})$", before)
        return mm.group(1) if mm else None
    rest = sentence[m.end() :].strip()
    mm = re.match(r"(?:the\s+)?(.{3,90}?)(?=\s*(?:[,;.]|\s+in\s+[A-Z]|\s+held\b|\s+on\s+\d|$))", rest)
    if not mm:
        return None
    val = mm.group(1).strip()
    low = m.group(0).lower()
    if low.startswith(("during", "at the", "в рамках")) and not re.search(
        r"(?i)summit|session|assembly|forum|conference|meeting|council|week|ministerial|саммит|сесси|форум|совещ|засед",
        val,
    ):
        return None
    return val


def _location(
    sentence: str, pack: Pack, places: list[Mention], base: int, person_spans: list[tuple[int, int]]
) -> tuple[str | None, str | None]:
    """(city, country) of an in-person meeting stated in the sentence ("in Beijing", "в Москве", "在北京")."""
    for p in places:
        if p.kind not in ("city", "country"):
            continue
        rel = p.start - base
        if rel < 0 or rel > len(sentence):
            continue
        if any(s <= p.start < e + 2 for s, e in person_spans):
            continue
        before = sentence[max(0, rel - 12) : rel]
        prep = None
        for pr in pack.place_preps:
            if pack.bounded:
                if re.search(rf"(?i)(?<!\w){re.escape(pr)}\s+(?:the\s+)?(?:capital\s+)?$", before):
                    prep = pr
            elif before.endswith(pr):
                prep = pr
        if prep is None and not _locative(sentence, rel, p, pack):
            continue
        if p.kind == "city":
            return p.code, p.country
        return None, p.code
    return None, None


def _locative(sentence: str, rel: int, p: Mention, pack: Pack) -> bool:
    """A place name carrying a locative ending ("Бейжіңде", "Pekinda", "Ankara'da"), for the packs that
    list them (`place_suffixes`; an ending with an apostrophe must follow the name as printed)."""
    suffixes = pack.raw.get("place_suffixes") or ()
    if not suffixes:
        return False
    rest = sentence[rel + len(p.text) : rel + len(p.text) + 6]
    word = p.text + (re.match(r"[\w'’]*", rest) or re.match("", "")).group(0)  # type: ignore[union-attr]
    low = word.lower().replace("’", "'")
    return any(low.endswith(str(x)) and len(low) > len(str(x)) + 2 for x in suffixes)


def _topics(text: str) -> tuple[str, ...]:
    low = text.lower()
    return tuple(t for t, keys in _TOPICS.items() if any(k in low for k in keys))


_SOFT_BREAK = re.compile(r"(?<=[a-zа-яё,])[ \t]*\n+[ \t]*(?=[a-zа-яё])")


def _normalize(text: str) -> str:
    """NFC text; in spaced scripts a line break inside a sentence (hard-wrapped releases) becomes a space."""
    text = unicodedata.normalize("NFC", text).replace("\r", "\n").replace("\u200b", "")
    if _PINYIN_NOTE.search(text):
        # "國(guó)": reading aids some sites print after characters split words and names
        text = _PINYIN_NOTE.sub("", text)
    # a doubled space inside a sentence (justified or re-flowed releases) would break multi-word titles;
    # three or more stay, they separate sentences
    return _DOUBLE_SPACE.sub(" ", _SOFT_BREAK.sub(" ", text))


_DOUBLE_SPACE = re.compile(r"(?<=[^\s])[ \u00a0]{2}(?=[^\s])")
_PINYIN_NOTE = re.compile(r"(?<=[\u3400-\u9fff])\((?:[a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ][a-zü]*)\)")


def extract_meetings(article: Article) -> list[MeetingClaim]:
    """Meeting claims an article states (held and planned); see the module docstring for the heuristic."""
    try:
        return _extract(article)
    except ParseError:
        raise
    except Exception as e:  # noqa: BLE001 - the contract: only ParseError leaves the parser
        raise ParseError(f"extraction failed: {e!r}") from e


def _author(article: Article, pack: Pack, people: list[_Person]) -> _Person | None:
    """The release's author ("I met ..."): the first own-state person named, else the publisher's office,
    else (a publisher with no office) the first own-state office the article mentions."""
    sc = article.source_country
    if not sc:
        return None
    for p in people:
        if p.country == sc and p.name:
            return replace(p, cue="author")
    role = "official"
    if article.publisher:
        en = load_pack("en")
        for pk in (pack, en):
            if pk is None:
                continue
            m = pk.title_re.search(article.publisher)
            if m:
                role = pk.role_of(m.group(0))
                break
        if re.search(
            r"(?i)foreign|external affairs|department of state|state dep|МИД|иностранных дел|外交|外务",
            article.publisher,
        ):
            role = "foreign_minister" if role in ("official", "minister") else role
    if role == "official":
        # a publisher without an office ("X's official site"): the own state's office the article names
        own = next((p for p in people if p.country == sc and p.role != "official"), None)
        if own is not None:
            role = own.role
    return _Person(-1, -1, role, None, sc, None, None, None, cue="author")


def _extract(article: Article) -> list[MeetingClaim]:
    text = _normalize(article.text or "")
    if not text.strip():
        return []
    lang = (article.language or "").lower().split("-")[0] or None
    pack = load_pack(lang or "") if lang else None
    if pack is None:
        detected = detect_language(text, default="en") or "en"
        pack = load_pack(detected) or load_pack("en")
    if pack is None:
        raise ParseError("no language pack")
    gaz = Gazetteer.default()
    places = gaz.find(text, pack.language)
    dateline = parse_dateline(text, pack, article.published)
    ref = (dateline.day if dateline and dateline.day else None) or article.published
    people = _people(text, pack, places, article.source_country, ref)
    # the table of named people: full name and surname key -> mention (first mention with a party wins)
    table: dict[str, _Person] = {}
    for p in people:
        if p.name:
            _resolve_person(p, ref, None, table)
    for p in people:
        if p.name and p.party:
            table.setdefault(p.name, p)
            if p.name_printed:
                table.setdefault(p.name_printed, p)
            table.setdefault("#" + _name_key(p.name), p)
    for p in people:
        _resolve_person(p, ref, None, table)
    author = _author(article, pack, people)
    dl_city: str | None = None
    if dateline:
        hits = [m for m in gaz.find(dateline.city_text, pack.language) if m.kind == "city"]
        if not hits:
            hits = [m for m in gaz.find(dateline.city_text.title(), pack.language) if m.kind == "city"]
        if not hits:
            hits = [m for m in gaz.find(dateline.city_text.title(), "en") if m.kind == "city"]
        dl_city = hits[0].code if hits else None
    host = _host_country(text, pack, places, article.source_country)
    lead = next((p for p in people if p.party and p.party == article.source_country and p.name), None)
    protagonist = next((p for p in people if p.party and p.name), None)

    claims: list[_Claim] = []
    sentences = split_sentences(text, pack)
    last: list[_Claim] = []
    last_day: date | None = None
    pending_mode: tuple[str, int] | None = None
    lead_from = dateline.end if dateline is not None else 0
    lead_day, _found = resolve_date(text[lead_from : lead_from + 300], pack, ref)
    # one pass over the text per cue family; sentences then look up their own range
    if pack.event_re is None:
        raise ParseError(f"language pack {pack.language!r} has no cues")
    events = pack.finditer(pack.event_re, text)
    cue_hits = [m for m in events if m.lastgroup in ("video", "phone", "cue")]
    attend_hits = [m for m in events if m.lastgroup == "attend"]
    joined_hits = [m for m in events if m.lastgroup == "joined"]
    # an attendance or generic cue may swallow the form ("出席……视频会议", "had a telephone conversation"):
    # look inside it too
    mode_hits = [
        (
            name,
            [
                m
                for m in events
                if m.lastgroup == name or (m.lastgroup in ("attend", "cue") and rx.search(m.group(0)))
            ],
        )
        for name, rx in pack.cue_modes
        if name in ("video", "phone")
    ]
    for base, sent in sentences:
        end = base + len(sent)
        if pack.bounded and sent.isupper():
            # headlines in capitals repeat what the body says, without its dates and places
            continue
        cue_m = _first_in(cue_hits, base, end)
        attend_m = _first_in(attend_hits, base, end)
        joined_m = _first_in(joined_hits, base, end)
        if last and joined_m is not None:
            # "李明、张华等参加会见": more people of the meeting just reported
            extra = [replace(p) for p in people if base <= p.start < end and p.party]
            for c in last:
                c.people.extend(q for q in extra if not any(_same_person(q, o) for o in c.people))
            continue
        if (
            joined_m is not None
            and cue_m is not None
            and joined_m.start() - 8 <= cue_m.start() < joined_m.end()
        ):
            # "……会见时在座" after a meeting that was not recorded: attendees, not a meeting of their own
            continue
        for m_name, mhits in mode_hits:
            if _first_in(mhits, base, end) is not None:
                pending_mode = (m_name, base)
                break
        cue = cue_m or attend_m
        if cue is None:
            continue
        # a call is a meeting even when it carries congratulations or condolences
        held_marker = bool(pack.held_re and pack.search(pack.held_re, sent)) or any(
            _first_in(mh, base, end) is not None for _m, mh in mode_hits
        )
        if (pack.search(pack.not_meeting_re, sent) and not held_marker) or pack.search(
            pack.background_re, sent
        ):
            continue
        status = "planned" if pack.search(pack.planned_re, sent) and not held_marker else "held"
        in_sent = [p for p in people if base <= p.start < end]
        ppl = [replace(p) for p in in_sent if not _mentioned_only(p, text, pack)]
        spans = [(p.start, p.end) for p in in_sent]
        # bare names already known from elsewhere in the article ("Verano and Orimura agreed ...")
        ppl += [
            q for q in _known_names(sent, base, pack, table, spans, ref) if not _mentioned_only(q, text, pack)
        ]
        ppl.sort(key=lambda p: p.start)
        cue_pos = cue.start()
        if author is not None and pack.first_person_re.search(sent):
            ppl.insert(0, replace(author, start=base - 1))
        ppl += _org_participants(sent, base, cue, places, ppl)
        ppl += _format_sessions(sent, base, pack, places, ppl)
        group = _group_offices(sent, base, pack, places, ppl)
        ppl += group
        # "the foreign ministers of A, B and C" met as one; "counterparts from A, B and C" one by one
        group_multi = len(group) >= 2 and group[0].role != "counterpart" and not _SEPARATE.search(sent)
        own = bool(ppl)
        if not any(p.start < cue_pos for p in ppl) and attend_m is None:
            # "He also met ...", "Also held talks with ...": the subject of the meeting just reported, or the
            # author of a ministry's release
            if last and last[0].subject is not None:
                ppl.insert(0, replace(last[0].subject, start=base - 1))
            elif author is not None and _is_release(article):
                ppl.insert(0, replace(author, start=base - 1))
            elif protagonist is not None and protagonist.start < base:
                # "его встретил президент": the person the article is about
                ppl.insert(0, replace(protagonist, start=base - 1))
        s_city, s_country = _location(sent, pack, places, base, spans)
        s_host = s_country if s_country and s_country != article.source_country else host
        _default_parties(ppl, text, cue_pos, article.source_country, s_host, people)
        _resolve_counterparts(ppl, author)
        parties = {p.party for p in ppl if p.party}
        if (
            len(parties) == 1
            and author is not None
            and author.party not in parties
            and _is_release(article)
            and attend_m is None
        ):
            ppl.insert(0, replace(author, start=base - 1))
            parties.add(author.country or "")
        # who attended: the release's own named official, else (in a ministry's release) its unnamed principal
        attendee = lead if lead is not None else (author if _is_release(article) else None)
        if (
            attend_m is not None
            and cue_m is None
            and attendee is not None
            and attendee.party not in parties
            and parties
        ):
            ppl.insert(0, replace(attendee, start=base - 1))
            parties.add(attendee.party or "")
        mode: Mode = "in_person"
        specific = False
        for m_name, mhits in mode_hits:
            if _first_in(mhits, base, end) is not None:
                mode = "video" if m_name == "video" else "phone"
                specific = True
                break
        if len(parties) < 2 or (not own and last):
            # no one of its own: the sentence goes on about the meeting just reported ("The sides discussed")
            if specific and last:
                # "会谈以视频方式进行": the form of the meeting just reported
                for c in last:
                    if not c.mode_specific:
                        c.mode, c.mode_specific, c.city, c.loc_country = mode, True, None, None
            continue
        skip = dateline.end - base if dateline is not None and base < dateline.end else 0
        day, found = resolve_date(sent[max(0, skip) :], pack, ref)
        if found and day is not None and ref is not None and (ref - day).days > 14:
            # a meeting months before the report is background ("recalled their talks in April")
            continue
        also = bool(_ALSO.search(sent))
        if not found:
            # the day of the event the article is about: the last dated meeting, the lede's date, the
            # dateline's,
            # else the publication day (releases report same-day events)
            day = (
                last_day or lead_day or (dateline.day if dateline is not None else None) or article.published
            )
        city: str | None = None
        loc_country: str | None = None
        if (
            attend_m is not None
            and cue_m is None
            and not specific
            and pending_mode is not None
            and base - pending_mode[1] < 600
        ):
            # "会议以视频方式举行。... 出席会议": the form stated just before the attendance list
            mode = "video" if pending_mode[0] == "video" else "phone"
            specific = True
        if mode == "in_person":
            city, loc_country = s_city, s_country
            if city is None and loc_country is None and also and last:
                city, loc_country = last[0].city, last[0].loc_country
            if city is None and loc_country is None and dl_city and base < 600:
                city, loc_country = dl_city, gaz.city_country(dl_city)
        proto = _Claim(
            [],
            day,
            mode,
            specific,
            status,
            city,
            loc_country,
            _sideline(sent, pack),
            sent.strip(),
            cue.group(0),
            explain={"attend": True} if attend_m is not None and cue_m is None else {},
            dated=found and day is not None,
        )
        if also and last and proto.sidelines is None:
            proto.sidelines = last[0].sidelines
        new = _split(
            ppl,
            pack,
            sent,
            proto,
            article.source_country,
            multilateral=(attend_m is not None and cue_m is None) or group_multi,
            cue_pos=cue_pos,
        )
        claims.extend(new)
        last = new
        if found and day is not None and status == "held":
            last_day = day
    merged = _merge(claims)
    platforms = tuple(dict.fromkeys(p.code for p in places if p.kind == "org"))
    topics = _topics(text)
    return [_to_claim(c, platforms, topics, text, pack) for c in merged]


# an unnamed "minister"/"official" next to a named person of the same side is that person, mentioned again
_WEAK_ROLES = frozenset({"minister", "official", "counterpart"})
_ALSO = re.compile(r"(?i)(?<!\w)(?:also|further|также|еще|ещё|还|又)(?!\w)|还|又")
_LIST_SEP = re.compile(r"^\s*(?:,|and|и|、|，)\s*(?:the\s+)?$", re.IGNORECASE)


def _host_country(text: str, pack: Pack, places: list[Mention], source: str | None) -> str | None:
    """The state a visit went to ("visited Chile", "visit to Peru", "arrived in Lima"), else the foreign
    state
    the text names most often (at least twice). Unplaced counterparts of a visiting official belong to it."""
    for m in pack.visit_re.finditer(text[:3000]):
        for p in places:
            if m.end() <= p.start <= m.end() + 25 and p.country and p.country != source and p.kind != "org":
                return p.country
            if p.start > m.end() + 25:
                break
    counts: dict[str, int] = {}
    for p in places:
        if p.kind != "org" and p.country and p.country != source:
            counts[p.country] = counts.get(p.country, 0) + 1
    if counts:
        best = max(sorted(counts), key=lambda k: counts[k])
        if counts[best] >= 2:
            return best
    return None


def _org_participants(
    sent: str, base: int, cue: re.Match[str], places: list[Mention], ppl: list[_Person]
) -> list[_Person]:
    """Organisations met as such ("I met with the WHO and the IAEA"): org names right after the cue."""
    out: list[_Person] = []
    pos = cue.end()
    for p in places:
        if p.start < pos:
            continue
        if p.kind != "org" or not re.match(
            r"^\s*(?:with\s+|and\s+|,\s*|、|和|与|с\s+)?(?:the\s+)?$", sent[pos - base : p.start - base]
        ):
            break
        if any(q.start <= p.start <= q.end + 2 for q in ppl):
            break
        out.append(_Person(p.start, p.end, "official", None, None, p.code, None, None, cue="org"))
        pos = p.end
    return out


def _format_sessions(
    sent: str, base: int, pack: Pack, places: list[Mention], ppl: list[_Person]
) -> list[_Person]:
    """Sessions of a format attended as such ("ASEAN外相会議", "ARF閣僚会合"): the organisation is the
    participant (GUIDE: no individual counterpart named). Heuristic: an organisation mention directly followed
    by the pack's ``format_meeting`` pattern; each organisation once per sentence."""
    rx = pack.format_meeting_re
    if rx is None:
        return []
    out: list[_Person] = []
    end = base + len(sent)
    for m in places:
        if m.kind != "org" or not base <= m.start < end or not rx.match(sent, m.end - base):
            continue
        # an unnamed "foreign minister" read off "ASEAN外相会議" is dropped later (_split); it does not count
        if any(p.org == m.code and (p.name or p.role not in _STATE_ROLES) for p in ppl + out):
            continue
        out.append(_Person(m.start, m.end, "official", None, None, m.code, None, None, cue="org"))
    return out


_STATE_ROLES = frozenset(
    {
        "head_of_state",
        "deputy_head_of_state",
        "head_of_government",
        "deputy_head_of_government",
        "foreign_minister",
        "deputy_foreign_minister",
    }
)
_GROUP_SEP = re.compile(r"^\s*(?:,|，|、)?\s*(?:and|и|和|及|与|與|&)?\s*(?:the\s+)?$", re.IGNORECASE)


def _group_offices(
    sent: str, base: int, pack: Pack, places: list[Mention], ppl: list[_Person]
) -> list[_Person]:
    """Unnamed officials of each state in a list governed by a plural office ("the foreign ministers of A, B
    and C", "A、B、C等10余国外长"): one participant per listed state the sentence does not name yet."""
    if not pack.group_before and not pack.group_after:
        return []
    end = base + len(sent)
    states = [m for m in places if m.kind == "country" and base <= m.start < end]
    runs: list[list[Mention]] = []
    for m in states:
        if runs and _GROUP_SEP.match(sent[runs[-1][-1].end - base : m.start - base]):
            runs[-1].append(m)
        else:
            runs.append([m])
    out: list[_Person] = []
    for run in runs:
        if len(run) < 2:
            continue
        role: str | None = None
        before = sent[: run[0].start - base]
        after = sent[run[-1].end - base :]
        for r, rx in pack.group_before:
            if rx.search(before[-120:]):
                role = r
                break
        if role is None:
            for r, rx in pack.group_after:
                if rx.match(after):
                    role = r
                    break
        if role is None:
            continue
        for m in run:
            if any(p.country == m.code for p in ppl + out):
                continue
            out.append(_Person(m.start, m.end, role, None, m.code, None, None, None, cue="group"))
    return out


def _default_parties(
    ppl: list[_Person],
    text: str,
    cue_pos: int,
    source: str | None,
    host: str | None,
    people: list[_Person] | None = None,
) -> None:
    """States for people the text does not place. After the cue, a list shares the state of its first member
    ("Syrian Foreign Minister X, Defence Minister Y and ..."); otherwise the publisher's own state, unless the
    sentence already has it, in which case the visited (or most-named foreign) state."""
    prev: _Person | None = None
    for p in ppl:
        if p.party is None and prev is not None and prev.party and p.start > cue_pos and prev.start > cue_pos:
            gap = text[prev.end_name if prev.end_name > 0 else prev.end : p.start]
            if _LIST_SEP.match(gap) or re.match(r"^\s*,?\s*(?:and\s+)?$", gap):
                p.country, p.org = prev.country, prev.org
        prev = p
    for p in ppl:
        if p.party is not None:
            continue
        if not p.name and people:
            # "the Prime Minister" after "Prime Minister Ravi Mehran": the last named holder of that title
            prior = [q for q in people if q.start < p.start and q.role == p.role and q.name and q.party]
            if prior:
                p.country, p.org, p.name, p.name_printed = (
                    prior[-1].country,
                    prior[-1].org,
                    prior[-1].name,
                    None,
                )
                continue
        present = {q.party for q in ppl if q.party}
        if source and source not in present:
            p.country = source
        elif host and (source or p.start > cue_pos):
            p.country = host


def _resolve_counterparts(ppl: list[_Person], author: _Person | None) -> None:
    """ "His Russian counterpart" holds the office of the sentence's other principal."""
    for p in ppl:
        if p.role != "counterpart":
            continue
        ref = next((q for q in ppl if q.role != "counterpart" and q.party != p.party), None)
        if ref is None and author is not None and author.party != p.party:
            ref = author
        p.role = ref.role if ref is not None else "official"


def _generic_title(title: str | None) -> bool:
    """A bare office word ("the Minister", "министр", "部长"), which names no particular portfolio."""
    return title is None or len(title.split()) <= 1 and len(title) <= 9


def _mentioned_only(p: _Person, text: str, pack: Pack) -> bool:
    """People named as the subject of a visit, message or invitation ("the upcoming visit of President X",
    "President X's state visit") are mentioned in the sentence, not met."""
    if pack.not_before_re is not None and pack.not_before_re.search(text[max(0, p.start - 40) : p.start]):
        return True
    end = p.end_name if p.end_name > 0 else p.end
    return pack.not_after_re is not None and bool(pack.not_after_re.match(text[end : end + 40]))


def _first_in(hits: list[re.Match[str]], start: int, end: int) -> re.Match[str] | None:
    """The first of ``hits`` (sorted by position) that starts in [start, end)."""
    i = bisect.bisect_left([h.start() for h in hits], start) if len(hits) > 8 else 0
    for h in hits[i:]:
        if h.start() >= end:
            return None
        if h.start() >= start:
            return h
    return None


def _is_release(article: Article) -> bool:
    """A ministry's own release (its officials go unnamed as "the Minister"), not an agency's report; an
    official's own site ("X official site") writes as its owner too."""
    pub = (article.publisher or "").lower()
    return bool(article.source_country) and bool(
        re.search(
            r"minist|mfa|foreign|department|office|official (?:web)?site|gov|president|prime|kremlin|akorda"
            r"|мид|министерств|外交部",
            pub,
        )
    )


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what ``\w`` matches in a str pattern


def _stem_word(sent: str, stem: str, tail: int = 3) -> int:
    r"""Offset of the first word of ``sent`` that is ``stem`` plus at most ``tail`` word characters, else -1
    (as ``(?<!\w)stem\w{0,tail}(?!\w)`` would find, without compiling a pattern per name)."""
    i = sent.find(stem)
    n = len(sent)
    while i >= 0:
        if i == 0 or not _is_word_char(sent[i - 1]):
            k = j = i + len(stem)
            while k < n and k - j <= tail and _is_word_char(sent[k]):
                k += 1
            if k - j <= tail:
                return i
        i = sent.find(stem, i + 1)
    return -1


def _known_names(
    sent: str, base: int, pack: Pack, table: dict[str, _Person], spans: list[tuple[int, int]], on: date | None
) -> list[_Person]:
    """People of the sentence named without a title: known from elsewhere in the article, or the registry."""
    out: list[_Person] = []
    seen: set[str] = set()
    for key, p in table.items():
        if key.startswith("#") or not p.name:
            continue
        if pack.bounded:
            last = key.split()[-1]
            if len(last) < 3:
                continue
            stem = last[: max(4, len(last) - 2)] if pack.script == "cyrillic" else last
            idx = _stem_word(sent, stem)
        else:
            idx = sent.find(key) if len(key) >= 2 else -1
        if idx < 0:
            continue
        pos = base + idx
        if any(s - 2 <= pos < e + 40 for s, e in spans) or p.name in seen:
            continue
        seen.add(p.name)
        out.append(replace(p, start=pos, end=pos + 1, cue="name", end_name=-1))
    rx = _registry_matcher(pack.script)
    if rx is not None:
        for at, hit in rx.finditer(sent):
            pos = base + at
            if any(s - 2 <= pos < e + 40 for s, e in spans) or any(abs(o.start - pos) < 3 for o in out):
                continue
            if pack.bounded and " " not in hit and _NAME_GOES_ON.match(sent, at + len(hit)):
                # "Mustafa Abdul Jalil": a known surname as the first part of some other person's name
                continue
            term = _lookup(hit, on)
            if term is None or not (getattr(term, "country", None) or getattr(term, "org", None)):
                continue
            if on is not None and hasattr(term, "active") and not term.active(on, 3650):
                continue
            out.append(
                _Person(
                    pos,
                    pos + len(hit),
                    str(term.role),
                    None,
                    term.country,
                    term.org,
                    str(term.name),
                    hit,
                    getattr(term, "person_id", None),
                    cue="registry",
                )
            )
    return out


def _split(
    ppl: list[_Person],
    pack: Pack,
    sent: str,
    proto: _Claim,
    source_country: str | None,
    multilateral: bool = False,
    cue_pos: int = 0,
) -> list[_Claim]:
    """One claim per counterpart party, or one for all when the sentence describes a multilateral meeting."""
    # "中国—中亚外长会晤": a state office read off a format's name is no participant of its own
    ppl = [p for p in ppl if p.party and not (p.org and not p.name and p.role in _STATE_ROLES)]
    ppl.sort(key=lambda p: p.start)
    # one entry per person (a title mentioned twice in the sentence)
    uniq: list[_Person] = []
    for p in ppl:
        dup = next((q for q in uniq if _same_person(p, q)), None)
        if dup is None:
            uniq.append(p)
        elif not dup.name and p.name:
            uniq[uniq.index(dup)] = p
    by_party: dict[str, list[_Person]] = {}
    for p in uniq:
        by_party.setdefault(p.party or "", []).append(p)
    # "…外相会議に加えて、A、B、Cとの外相会談": the bilateral ones are meant, even beside a multilateral cue
    joint = multilateral or (pack.multilateral_re.search(sent) is not None and not _SEPARATE.search(sent))
    if len(by_party) <= 2 or joint:
        subj = next((p for p in reversed(uniq) if p.start < cue_pos), uniq[0] if uniq else None)
        return [replace(proto, people=uniq, subject=subj)]
    # the subject is the person right before the cue ("A, B and C were among the leaders that X met");
    # failing that, the publisher's own side, else the first person named
    # the states of a listed title ("A、B、Cとの外相会談") are the counterparts, never the subject
    before = [p for p in uniq if p.start < cue_pos and p.cue != "title-list"]
    listed = any(p.cue == "title-list" for p in uniq)
    if listed and source_country in by_party:
        subject = source_country or ""
    elif before:
        subject = before[-1].party or ""
    elif source_country in by_party:
        subject = source_country or ""
    else:
        subject = uniq[0].party or ""
    out = []
    for party, group in by_party.items():
        if party == subject:
            continue
        out.append(replace(proto, people=by_party[subject] + group, subject=by_party[subject][0]))
    return out


def _same_person(a: _Person, b: _Person) -> bool:
    if a.party != b.party:
        return False
    if a.name and b.name:
        return _name_key(a.name) == _name_key(b.name)
    return a.role == b.role


def _merge(claims: list[_Claim]) -> list[_Claim]:
    """Claims about the same parties (and day, where both have one) are one meeting; attendance lists of one
    session ("A, B and C attended the meeting") are one multilateral meeting."""
    out: list[_Claim] = []
    for c in claims:
        parties = frozenset(p.party for p in c.people)
        tgt = next(
            (
                o
                for o in out
                if o.status == c.status
                # a day only assumed (publication day, lede) yields to a day the text states
                and (o.day is None or c.day is None or o.day == c.day or not (o.dated and c.dated))
                and (
                    frozenset(p.party for p in o.people) == parties
                    or (o.explain.get("attend") and c.explain.get("attend"))
                )
            ),
            None,
        )
        if tgt is None:
            out.append(c)
            continue
        for p in c.people:
            dup = next((q for q in tgt.people if _same_person(p, q)), None)
            if dup is None:
                tgt.people.append(p)
            elif not dup.name and p.name:
                tgt.people[tgt.people.index(dup)] = p
        if c.mode_specific and not tgt.mode_specific:
            tgt.mode, tgt.mode_specific = c.mode, True
            tgt.city = tgt.loc_country = None
        if c.dated and not tgt.dated and c.day is not None:
            tgt.day, tgt.dated = c.day, True
        tgt.day = tgt.day or c.day
        if tgt.mode == "in_person" and tgt.city is None and tgt.loc_country is None:
            tgt.city, tgt.loc_country = c.city, c.loc_country
        tgt.sidelines = tgt.sidelines or c.sidelines
    # a person counted twice within a claim under both a bare title and a name, or under two bare titles
    # ("the Minister of Foreign Affairs ... The Minister welcomed ...")
    for c in out:
        for p in c.people:
            weak_named = [
                q for q in c.people if q.name and q.party == p.party and q.role in _WEAK_ROLES
            ]
            # two named ministers of one state: a bare senior title cannot say which of them it meant
            if p.name and p.role in _WEAK_ROLES and _generic_title(p.title) and len(weak_named) == 1:
                spec = next(
                    (q for q in c.people if not q.name and q.party == p.party and q.role not in _WEAK_ROLES),
                    None,
                )
                if spec is not None:
                    p.role = spec.role
        named = [p for p in c.people if p.name]
        kept: list[_Person] = []
        for p in c.people:
            if p.name:
                kept.append(p)
            elif not any(
                q.party == p.party and (q.role == p.role or p.role in _WEAK_ROLES) for q in named
            ) and not any(q.party == p.party and not q.name for q in kept):
                kept.append(p)
        c.people = kept
    return out


@functools.cache
def _government_led() -> frozenset[str]:
    """States whose executive leader is the head of government (bundled ``leaders.yaml``)."""
    path = Path(__file__).resolve().parent / "data" / "gazetteer" / "leaders.yaml"
    with path.open(encoding="utf-8") as f:
        raw = yaml.safe_load(f) or {}
    return frozenset(str(c) for c in raw.get("head_of_government_leads") or [])


def _country_role(p: _Person, pack: Pack) -> str:
    """The role of a title whose office differs by state ("Secretary of State": US foreign minister).

    An unnamed holder of a generic leader title ("the heads of state of A, B", "leaders of ...") of a
    parliamentary state is its head of government: that is who leads it at summits."""
    for spec in pack.raw.get("country_specific_titles") or []:
        title, state, there, elsewhere = (str(x) for x in spec)
        if p.title and p.title.lower() == title:
            return there if p.country in (None, state) else elsewhere
    rx = pack.raw.get("generic_leader_title")
    if (
        rx
        and p.role == "head_of_state"
        and not p.name
        and p.title
        and p.country in _government_led()
        and re.match(str(rx), p.title)
    ):
        return "head_of_government"
    return p.role


_HELD_BY_REGISTRY = frozenset({"head_of_state", "head_of_government", "foreign_minister"})


def _office_holder(country: str | None, role: str, on: date | None) -> Any:
    """Who held that office that day, for a participant identified by title alone ("the Chinese Foreign
    Minister" on 2025-10-28 is Wang Yi); None when the registry does not know (or the day is unknown)."""
    reg = _registry()
    if reg is None or country is None or on is None or role not in _HELD_BY_REGISTRY:
        return None
    try:
        return reg.holder(country, role, on, max_stale_days=400)
    except Exception:  # noqa: BLE001
        return None


def _to_claim(
    c: _Claim, platforms: tuple[str, ...], topics: tuple[str, ...], text: str, pack: Pack
) -> MeetingClaim:
    people: list[Participant] = []
    for p in c.people:
        role = _country_role(p, pack)
        name, person_id, aliases = p.name, p.person_id, p.aliases
        if name is None:
            term = _office_holder(p.country, role, c.day)
            if term is not None:
                # the holder's names in every script the registry has (the article's own included)
                name, person_id = str(term.name), getattr(term, "person_id", None)
                aliases = tuple(str(v) for v in getattr(term, "variants", ()) if str(v) != name)
                p.person_id = person_id  # shown by --explain
        people.append(
            Participant(
                role=role,
                name=name,
                name_as_printed=p.name_printed,
                title=p.title,
                country=p.country,
                org=p.org,
                person_id=person_id,
                aliases=aliases,
            )
        )
    parts = tuple(people)
    visit: dict[str, str | None] | None = None
    if c.mode == "in_person" and c.loc_country and pack.visit_re.search(text):
        visitors = [p.party for p in c.people if p.party and p.party != c.loc_country]
        if visitors and any(p.party == c.loc_country for p in c.people):
            m = re.search(r"(?i)(official|state|working|официальн|государственн|рабоч|国事|正式|工作)", text)
            kind = (
                {
                    "официальн": "official",
                    "государственн": "state",
                    "рабоч": "working",
                    "国事": "state",
                    "正式": "official",
                    "工作": "working",
                }.get(m.group(1).lower(), m.group(1).lower())
                if m
                else None
            )
            visit = {"visitor": visitors[0], "host": c.loc_country, "type": kind}
    return MeetingClaim(
        participants=parts,
        date=c.day,
        mode=c.mode,
        status="planned" if c.status == "planned" else "held",
        city=c.city,
        location_country=c.loc_country,
        visit=visit,
        sidelines_of=c.sidelines,
        topics=topics,
        platforms=platforms,
        evidence=c.evidence[:600],
        explain={
            "cue": c.cue,
            "language": pack.language,
            "participants": [
                {"title": p.title, "role": p.role, "via": p.cue, "registry": p.person_id} for p in c.people
            ],
        },
    )


def record_for(claim: MeetingClaim, article: Article, explain: bool = False) -> dict[str, Any]:
    """The schema-shaped meeting record of a claim, with the article as its one source."""
    source: dict[str, Any] = {
        "url": article.url or "",
        "publisher": article.publisher,
        "published_at": article.published.isoformat() if article.published else None,
        "language": article.language,
        "title": article.title,
    }
    return claim.to_record(source=source, explain=explain)

"""Gazetteer: states (ISO3), cities and international organisations, with their names in each language.

Built once per process from pycountry (names and their translations) plus the hand-curated files in
``data/gazetteer/`` (adjectives, demonyms, "X side" forms, Russian stems, capitals, organisations).
``find`` scans a text with one trie-shaped regex per language and returns non-overlapping, leftmost-longest
mentions, so a 1 kB article costs one regex pass.
"""

from __future__ import annotations

import functools
import gettext
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pycountry
import yaml

from services.parser.triere import trie_pattern

__all__ = ["Gazetteer", "Mention"]

# the C loader (libyaml) reads the bundled data several times faster than the pure-Python one
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DATA = Path(__file__).resolve().parent / "data" / "gazetteer"
_LOCALES = {
    "ru": ["ru"],
    "zh": ["zh_CN", "zh_TW", "zh_HK"],
    "fr": ["fr"],
    "es": ["es"],
    "de": ["de"],
    "ja": ["ja"],
    "ar": ["ar"],
    "tr": ["tr"],
    "uz": ["uz"],
    "kk": ["kk"],
}
_LATIN = ("en", "fr", "es", "de", "tr", "uz")
_AR_CLITICS = ("و", "ب", "ل", "وب", "ول", "ف")
Kind = Literal["country", "city", "org"]


@dataclass(frozen=True, slots=True)
class Mention:
    """A gazetteer hit: ``code`` is an ISO3 code (country), an English city name or an org's short name."""

    kind: Kind
    code: str
    country: str | None
    start: int
    end: int
    text: str
    # the other side of a pair abbreviation ("日ロ": this mention is RUS, pair is JPN)
    pair: str | None = None


def _script_of(lang: str) -> str:
    if lang in ("zh", "ja"):
        return "cjk"
    if lang in ("ru", "kk"):
        return "cyrillic"
    return "latin"


class _Index:
    """Variants of one language: a combined regex plus the table that maps a hit back to its entry."""

    def __init__(self, lang: str, variants: list[tuple[str, Kind, str, str | None]]) -> None:
        self.lang = lang
        self.exact: dict[str, tuple[Kind, str, str | None]] = {}
        self.stems: list[tuple[re.Pattern[str], Kind, str, str | None]] = []
        self._memo: dict[str, tuple[Kind, str, str | None] | None] = {}
        cjk = _script_of(lang) == "cjk"
        phrases: list[str] = []
        for v, kind, code, country in variants:
            v = v.strip()
            if not v or (cjk and len(v) < 2):
                continue
            forms = [v]
            if v[0].islower():
                forms.append(v[0].upper() + v[1:])
            if _script_of(lang) != "cjk" and len(v) >= 4 and "*" not in v and not v.isupper():
                # headlines and datelines in capitals ("INDIAN prime minister", "MOSCOW,")
                forms.append(v.upper())
            for f in forms:
                phrases.append(f)
                if "*" in f:
                    rx = re.compile(re.escape(f).replace(r"\*", r"\w*").replace(r"\ ", r"\s+"))
                    self.stems.append((rx, kind, code, country))
                else:
                    # first entry wins: curated data is loaded before pycountry
                    self.exact.setdefault(self._norm(f), (kind, code, country))
        body = trie_pattern(phrases)
        self.rx = re.compile(body if cjk else rf"(?<!\w){body}(?!\w)")
        # cjk: also catch "X方" forms of single-character country abbreviations handled in data

    @staticmethod
    def _norm(s: str) -> str:
        return re.sub(r"\s+", " ", s)

    def resolve(self, hit: str) -> tuple[Kind, str, str | None] | None:
        if hit in self._memo:
            return self._memo[hit]
        r = self._resolve(hit)
        if len(self._memo) < 50_000:
            self._memo[hit] = r
        return r

    def _resolve(self, hit: str) -> tuple[Kind, str, str | None] | None:
        e = self.exact.get(self._norm(hit))
        if e:
            return e
        best: tuple[int, tuple[Kind, str, str | None]] | None = None
        for rx, kind, code, country in self.stems:
            if rx.fullmatch(hit):
                n = len(rx.pattern)
                if best is None or n > best[0]:
                    best = (n, (kind, code, country))
        return best[1] if best else None


_HAN = re.compile(r"[\u3400-\u9fff]")
_ABBR_BEFORE = frozenset("驻对与和同向赴访在及、")
# what follows a state's abbreviation: 方, 政府, 国/两国, a title (总/外/副/部/大使/议), 关系, 合作, ...
_ABBR_NEXT = frozenset("方政国两总外副前首部大驻议人关合友建领社经财卫教交农商工能文军防内政")
# ordinary words that begin with an abbreviation character followed by an allowed one
_ABBR_NOT_WORDS = frozenset({"老人", "老大", "巴人", "土方", "土人", "塞人", "希望", "莫大", "纳入", "肯定"})


class Gazetteer:
    """Names of states, cities and organisations per language."""

    def __init__(
        self,
        extra_countries: dict[str, Any],
        cities: dict[str, Any],
        orgs: dict[str, Any],
        zh_abbrev: dict[str, Any] | None = None,
        ja_pairs: dict[str, Any] | None = None,
    ) -> None:
        self._ja_pairs: dict[str, str] = {str(k): str(v) for k, v in (ja_pairs or {}).items()}
        self._ja_pair_rx = (
            re.compile(
                # not "来日中", "訪日中" (a visit to Japan, then 中); the compound runs to the meeting word
                # without a particle
                "(?<![来訪離在滞駐帰])("
                + "|".join(re.escape(k) for k in sorted(self._ja_pairs, key=len, reverse=True))
                + ")(?=[^\\s、。，のはがをとにでも]{0,12}?(?:会談|会議|会合|協議|対話))"
            )
            if self._ja_pairs
            else None
        )
        self._zh_abbrev: dict[str, tuple[str, ...]] = {
            str(k): tuple(str(c) for c in v) for k, v in (zh_abbrev or {}).items() if len(str(k)) == 1
        }
        self._names: dict[str, str] = {}
        self._city_country: dict[str, str] = {}
        per_lang: dict[str, list[tuple[str, Kind, str, str | None]]] = {}

        def add(lang: str, v: str, kind: Kind, code: str, country: str | None = None) -> None:
            per_lang.setdefault(lang, []).append((v, kind, code, country))

        # curated first (they win on conflicts), then organisations, cities, pycountry
        for iso3, langs in extra_countries.items():
            for lang, vs in (langs or {}).items():
                for v in vs:
                    add(lang, str(v), "country", iso3)
        for short, langs in orgs.items():
            for lang, vs in (langs or {}).items():
                for v in vs:
                    add(lang, str(v), "org", str(short))
            add("en", str(short), "org", str(short))
        for city, d in cities.items():
            iso3 = str(d["country"])
            self._city_country[str(city)] = iso3
            add("en", str(city), "city", str(city), iso3)
            for lang, vs in d.items():
                if lang == "country":
                    continue
                for v in vs:
                    add(lang, str(v), "city", str(city), iso3)
        translators: dict[str, list[gettext.NullTranslations]] = {}
        for lang, locs in _LOCALES.items():
            for loc in locs:
                try:
                    translators.setdefault(lang, []).append(
                        gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[loc])
                    )
                except OSError:
                    continue
        for c in pycountry.countries:
            iso3 = str(c.alpha_3)
            names = [str(c.name)]
            for attr in ("common_name", "official_name"):
                val = getattr(c, attr, None)
                if val:
                    names.append(str(val))
            self._names.setdefault(iso3, str(getattr(c, "common_name", None) or c.name))
            for n in names:
                if "," not in n:
                    add("en", n, "country", iso3)
            for lang, trs in translators.items():
                for t in trs:
                    for n in names:
                        tn = t.gettext(n)
                        if tn and tn != n and "," not in tn:
                            v = tn
                            if lang == "ru" and len(v) > 4 and v[-1] in "аяь":
                                v = v[:-1] + "*"
                            elif lang == "ru" and v[-1] not in "аеиоуыэюяь":
                                v = v + "*"
                            add(lang, v, "country", iso3)
                            if lang == "de" and " " not in v and not v.endswith(("s", "z", "x", "ß")):
                                add(lang, v + "s", "country", iso3)  # genitive: "Präsident Kasachstans"
        # Arabic attaches "and", "with", "to" to the next word ("وبالصين"): every name with those in front
        ar = per_lang.get("ar", [])
        per_lang["ar"] = ar + [(c + v, k, code, cty) for v, k, code, cty in ar for c in _AR_CLITICS]
        # Latin-script languages share the English index (names are mostly alike); add their own variants.
        for lang in _LATIN[1:]:
            per_lang[lang] = per_lang.get(lang, []) + per_lang["en"]
        # an index compiles one large regex; most processes need one or two languages, so build on first use
        self._variants = per_lang
        self._index: dict[str, _Index] = {}

    @classmethod
    @functools.cache
    def default(cls) -> Gazetteer:
        """The gazetteer built from the bundled data (cached per process)."""

        def load(name: str) -> dict[str, Any]:
            with (_DATA / name).open(encoding="utf-8") as f:
                return dict(yaml.load(f, Loader=_YAML_LOADER) or {})

        countries = load("countries_extra.yaml")
        extra = [load(p.name) for p in sorted(_DATA.glob("adjectives_*.yaml"))]
        for iso3, langs in (item for table in extra for item in table.items()):
            merged = dict(countries.get(iso3) or {})
            for lang, vs in (langs or {}).items():
                merged[lang] = list(merged.get(lang) or []) + list(vs)
            countries[iso3] = merged
        return cls(
            countries, load("cities.yaml"), load("orgs.yaml"), load("zh_abbrev.yaml"), load("ja_pairs.yaml")
        )

    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self._variants))

    def _index_for(self, lang: str) -> _Index:
        """The index of ``lang`` (English when the language has no variants), compiled once."""
        if lang not in self._variants:
            lang = "en"
        idx = self._index.get(lang)
        if idx is None:
            idx = self._index[lang] = _Index(lang, self._variants[lang])
        return idx

    def find(self, text: str, lang: str) -> list[Mention]:
        """All mentions in ``text`` for language ``lang`` (falls back to English), leftmost-longest."""
        idx = self._index_for(lang)
        out: list[Mention] = []
        for m in idx.rx.finditer(text):
            hit = m.group(0)
            r = idx.resolve(hit)
            if r is None:
                continue
            kind, code, country = r
            out.append(
                Mention(
                    kind,
                    code,
                    country if kind == "city" else (code if kind == "country" else None),
                    m.start(),
                    m.end(),
                    hit,
                )
            )
        if lang == "zh" and self._zh_abbrev and out:
            out = self._with_abbreviations(text, out)
        if lang == "ja" and self._ja_pair_rx is not None:
            out = self._with_pairs(text, out)
        return out

    def _with_pairs(self, text: str, found: list[Mention]) -> list[Mention]:
        """Add the partner of a Japanese pair abbreviation ("日ロ外相会談" -> Russia, "日ASEAN" -> ASEAN).

        Heuristic: the abbreviation must be followed, within a short compound (no particle), by a
        meeting word (会談, 会議, 会合, 協議, 対話), so "日中関係" names no party, and must not follow
        来/訪/在… ("来日中" is a visit); a span already covered by a longer mention wins. A partner that is
        not a state code is an organisation or format.
        """
        assert self._ja_pair_rx is not None
        covered = bytearray(len(text))
        for m in found:
            covered[m.start : m.end] = b"\x01" * (m.end - m.start)
        extra: list[Mention] = []
        for hit in self._ja_pair_rx.finditer(text):
            code = self._ja_pairs[hit.group(1)]
            s, e = hit.start(1) + 1, hit.end(1)
            if any(covered[s:e]):
                # "日ASEAN": the gazetteer already found the organisation
                continue
            if len(code) == 3 and code.isupper() and code in self._names:
                extra.append(Mention("country", code, code, s, e, text[s:e], pair="JPN"))
            else:
                extra.append(Mention("org", code, None, s, e, text[s:e], pair="JPN"))
        if not extra:
            return found
        return sorted(found + extra, key=lambda m: m.start)

    def _with_abbreviations(self, text: str, found: list[Mention]) -> list[Mention]:
        """Add single-character abbreviations of states the article names in full ("毛里求斯" ... "毛总理").

        Heuristic: the character must follow a boundary (start, punctuation, a non-Han character or one of
        驻/对/与/和/同/向/赴/访/在/及/、; "中埃关系" names the pair, not a party) and precede a typical
        continuation (方, 政府, 国, a title, 关系, ...); an ambiguous character takes the first of its
        candidates the article names in full.
        """
        named = {m.code for m in found if m.kind == "country"}
        table = {ch: next((c for c in cands if c in named), None) for ch, cands in self._zh_abbrev.items()}
        table = {ch: c for ch, c in table.items() if c is not None}
        if not table:
            return found
        covered = bytearray(len(text))
        for m in found:
            covered[m.start : m.end] = b"\x01" * (m.end - m.start)
        extra: list[Mention] = []
        for hit in re.finditer("[" + "".join(table) + "]", text):
            i, ch = hit.start(), hit.group(0)
            code = table[ch]
            if code is None or covered[i]:
                continue
            prev = text[i - 1] if i else ""
            nxt = text[i + 1 : i + 3]
            if prev and _HAN.match(prev) and prev not in _ABBR_BEFORE:
                continue
            if not nxt or nxt[0] not in _ABBR_NEXT or nxt in _ABBR_NOT_WORDS:
                continue
            extra.append(Mention("country", code, code, i, i + 1, ch))
        if not extra:
            return found
        return sorted(found + extra, key=lambda m: m.start)

    def country_name(self, iso3: str) -> str | None:
        """English short name of a state."""
        return self._names.get(iso3)

    def city_country(self, city: str) -> str | None:
        """ISO3 of the state a known city lies in."""
        return self._city_country.get(city)

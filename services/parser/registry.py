"""Office-holder registry: who held which office of which state or organisation on which day.

Data lives in ``services/parser/data/officeholders/`` (built by ``tools/build_registry.py`` from the shared
reference files and the hand-curated YAML in ``curated/``; see the README there for origins and licences):

    terms.tsv       one row per term (person_id, name, country, org, role, office, start, end, precision,
                    checked, variants, origin)
    overrides.tsv   manual corrections applied last (``apply_overrides``)
    positions.tsv   Wikidata position QID -> (country or org, role, office), used by ``load_wikidata_json``

Public API::

    reg = Registry.default()                       # cached; built from the package data
    reg.by_name("Лавровым", date(2025, 10, 28))    # -> [Term(Sergey Lavrov, RUS, foreign_minister), ...]
    reg.holder("CHN", "foreign_minister", date(2025, 10, 28))   # -> Term(Wang Yi, ...)
    for variant, term in reg.names_index(): ...    # every known spelling of every term, for text matchers

``names_index()`` yields ``(variant, term)`` for every name variant of every term (all scripts, as stored, not
normalised) so that the extractor can build one fast matcher (Aho-Corasick, a regex alternation or a token
trie) over a text; pass a hit to ``by_name(hit, on)`` to rank the candidate terms for the article's date.
``normalize_name`` and ``name_keys`` are exported so that a matcher can normalise the same way.

Name matching (``by_name``), all case-, diacritics- and punctuation-insensitive:

* full name in any stored variant, in any order of its words ("Lavrov Sergey", "Orbán Viktor");
* a subset of at least two words of a variant ("Владимир Путин" for "Владимир Владимирович Путин");
* surname only: the last word of a variant, or the first for East Asian names ("Xi", "Hun");
* Russian case forms: Cyrillic words are compared by stem (common noun/adjective endings stripped), so
  Лаврова / Лаврову / Лавровым / Лаврове all match Лавров, Зеленского matches Зеленский;
* Chinese short forms (拉夫罗夫) are stored variants; in "谢尔盖·拉夫罗夫" the part after the last "·"
  also counts as a surname.

Open terms (``end is None``) mean "in office when the data was last checked" (``Term.checked``), never
"forever": ``holder`` ignores an open term more than ``max_stale_days`` after its check date.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import pickle
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "DATA_DIR",
    "ROLE_RANK",
    "PositionMap",
    "Registry",
    "Term",
    "build_registry",
    "load_cached",
    "load_positions",
    "name_keys",
    "normalize_name",
    "parse_date",
    "term_to_row",
]

DATA_DIR = Path(__file__).resolve().parent / "data" / "officeholders"

#: Higher office first: used to break ties between terms that match equally well.
ROLE_RANK: dict[str, int] = {
    "head_of_state": 0,
    "head_of_government": 1,
    "org_head": 2,
    "deputy_head_of_state": 3,
    "foreign_minister": 4,
    "deputy_head_of_government": 5,
    "minister": 6,
    "deputy_foreign_minister": 7,
    "envoy": 8,
    "ambassador": 9,
    "legislator": 10,
    "official": 11,
}

#: Within one organisation several offices share the role ``org_head``; the first listed wins ``holder``.
OFFICE_RANK: dict[str, int] = {
    "commission_president": 0,
    "council_president": 1,
    "high_representative": 2,
}

# Surname-first naming: a one-word query may be the first word of the variant.
_SURNAME_FIRST = frozenset({"CHN", "TWN", "PRK", "KOR", "VNM", "KHM", "HUN", "MNG", "SGP"})

TERMS_COLUMNS = (
    "person_id",
    "name",
    "country",
    "org",
    "role",
    "office",
    "start",
    "end",
    "precision",
    "checked",
    "variants",
    "origin",
)


@dataclass(frozen=True, slots=True)
class Term:
    """One person in one office for one period.

    ``start``/``end`` are inclusive; a successor's start usually equals the predecessor's end. Partial dates
    are stored as the first day of their month or year, with ``precision`` "month" or "year".
    ``checked`` is the day an open term was last known to be current.
    """

    person_id: str
    name: str
    variants: tuple[str, ...]
    country: str | None
    org: str | None
    role: str
    start: date | None
    end: date | None
    office: str = ""
    precision: str = "day"
    checked: date | None = None
    origin: str = "curated"

    @property
    def holder_of(self) -> str:
        """The state (ISO3) or organisation whose office this is."""
        return self.country or self.org or ""

    def active(self, on: date, max_stale_days: int | None = None) -> bool:
        """True if the term covers ``on`` (inclusive).

        An open term stops ``max_stale_days`` after ``checked``.
        """
        if self.start is not None and on < self.start:
            return False
        if self.end is not None:
            return on <= self.end
        if max_stale_days is not None and self.checked is not None:
            return on <= self.checked + timedelta(days=max_stale_days)
        return True

    def distance(self, on: date) -> int:
        """Days between ``on`` and the term (0 when active, ignoring staleness)."""
        if self.start is not None and on < self.start:
            return (self.start - on).days
        if self.end is not None and on > self.end:
            return (on - self.end).days
        return 0


# ---------------------------------------------------------------------------------------------- names

_PUNCT = re.compile(r"[\s\-‐‑–—·•・,.'’ʼ\"«»()]+")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
# Normalised (diacritics-free: й->и) Russian endings, longest first.
# Stems shorter than 3 letters are kept whole.
_RU_ENDINGS = (
    "ыми",
    "ими",
    "ого",
    "его",
    "ому",
    "ему",
    "ыи",
    "ии",
    "ои",
    "еи",
    "ым",
    "им",
    "ом",
    "ем",
    "ая",
    "яя",
    "ую",
    "юю",
    "ах",
    "ях",
    "а",
    "я",
    "у",
    "ю",
    "е",
    "ы",
    "и",
    "ь",
)
_TRANSLIT_FOLD = str.maketrans(
    {
        "ё": "е",
        "ß": "ss",
        "ø": "o",
        "đ": "d",
        "ł": "l",
        "ı": "i",
        "æ": "ae",
        "œ": "oe",
        # Kazakh (and Ukrainian і) letters to the Russian spelling the registry's Cyrillic variants use
        "ә": "а",
        "ғ": "г",
        "қ": "к",
        "ң": "н",
        "ө": "о",
        "ұ": "у",
        "ү": "у",
        "һ": "х",
        "і": "и",
    }
)


def normalize_name(text: str) -> str:
    """Casefold, strip diacritics (also й->и, ё->е); punctuation, hyphens and "·" become single spaces."""
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_TRANSLIT_FOLD))
    stripped = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _PUNCT.sub(" ", stripped).strip()


def _ru_stem(word: str) -> str:
    """Strip up to two common Russian case/gender endings.

    Сергеем -> серге -> серг and Сергей -> сергеи -> серг.

    Both sides of a comparison are stemmed the same way, so over-stemming only merges near-identical words.
    """
    for _ in range(2):
        for ending in _RU_ENDINGS:
            if word.endswith(ending) and len(word) - len(ending) >= 3:
                word = word[: -len(ending)]
                break
        else:
            break
    return word


def name_keys(text: str) -> tuple[str, ...]:
    """Comparison keys of a name: normalised words, Cyrillic words stemmed, one-letter Latin words dropped.

    A CJK name without spaces is one key (Chinese short forms are stored as separate variants).
    """
    keys: list[str] = []
    for word in normalize_name(text).split():
        if _CYRILLIC.search(word):
            keys.append(_ru_stem(word))
        elif len(word) > 1 or _CJK.search(word):
            keys.append(word)
    if len(keys) > 1:
        # initials ("С.В.Лавров", "A. K. Abdul Momen") carry no identity once other words are present
        keys = [k for k in keys if len(k) > 1 or _CJK.search(k)] or keys
    return tuple(keys)


_ROMAN = re.compile(r"[ivx]{1,4}")
_HONORIFICS = frozenset(
    {
        "sheikh",
        "shaikh",
        "prince",
        "princess",
        "king",
        "queen",
        "emir",
        "amir",
        "sultan",
        "dr",
        "sir",
        "dame",
        "hh",
        "hrh",
        "mr",
        "mrs",
        "ms",
        "madam",
        "his",
        "her",
        "majesty",
        "excellency",
        "highness",
        "h e",
        "г",
        "н",
        "господин",
        "госпож",
        "шеих",
        "принц",
        "корол",
    }
)


def _surname_keys(variant: str, country: str | None, keys: tuple[str, ...] | None = None) -> set[str]:
    """Keys a one-word query may match: last word; first word for surname-first names; after the last '·'."""
    keys = name_keys(variant) if keys is None else keys
    if not keys:
        return set()
    out = {keys[-1]}
    if len(keys) >= 2 and _ROMAN.fullmatch(keys[-1]):
        out.add(keys[-2])  # "Abdullah II", "Charles III": the name before the numeral
    if country in _SURNAME_FIRST and not _CYRILLIC.search(variant):
        out.add(keys[0])
    if "·" in variant or "・" in variant:
        tail = re.split(r"[·・]", variant)[-1]
        out.update(name_keys(tail)[-1:])
    return out


# ---------------------------------------------------------------------------------------------- dates


def parse_date(value: Any) -> tuple[date | None, str]:
    """Parse ``YYYY-MM-DD`` / ``YYYY-MM`` / ``YYYY`` (or a date) -> (first day of the period, precision)."""
    if value is None or value == "" or value == "-":
        return None, "day"
    if isinstance(value, date):
        return value, "day"
    text = str(value).strip().lstrip("+")
    parts = text[:10].split("-")
    if len(parts) == 3 and parts[1] != "00" and parts[2] not in ("00", ""):
        return date(int(parts[0]), int(parts[1]), int(parts[2])), "day"
    if len(parts) >= 2 and parts[1] not in ("00", ""):
        return date(int(parts[0]), int(parts[1]), 1), "month"
    return date(int(parts[0]), 1, 1), "year"


def _fmt(d: date | None) -> str:
    return d.isoformat() if d else ""


# ---------------------------------------------------------------------------------------------- positions


@dataclass(frozen=True, slots=True)
class PositionMap:
    """Wikidata position QID -> where the office is (country ISO3 or org), schema role and office key."""

    entries: Mapping[str, tuple[str | None, str | None, str, str]] = field(default_factory=dict)

    def get(self, qid: str) -> tuple[str | None, str | None, str, str] | None:
        return self.entries.get(qid)


def load_positions(path: Path | None = None) -> PositionMap:
    """Read ``positions.tsv`` (qid, country, org, role, office, label)."""
    src = path or DATA_DIR / "positions.tsv"
    entries: dict[str, tuple[str | None, str | None, str, str]] = {}
    with src.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            entries[row["qid"]] = (
                row["country"] or None,
                row["org"] or None,
                row["role"],
                row.get("office") or "",
            )
    return PositionMap(entries)


# ---------------------------------------------------------------------------------------------- registry

_QUALITY_FULL, _QUALITY_SUBSET, _QUALITY_SUPERSET, _QUALITY_SURNAME = 0, 1, 2, 3


class Registry:
    """Dated office terms with a multi-script name index. Mutable only through the loaders."""

    def __init__(self, terms: Iterable[Term] = ()) -> None:
        self._terms: list[Term] = []
        self._index_dirty = True
        self._full: dict[tuple[str, ...], set[int]] = {}
        self._word: dict[str, set[int]] = {}
        self._surname: dict[str, set[int]] = {}
        self._variant_keys: list[list[tuple[str, ...]]] = []
        self._by_office: dict[tuple[str, str], list[int]] = {}
        for term in terms:
            self.add(term)

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def default(cls) -> Registry:
        """The registry built from the package data (terms + overrides); cached per process."""
        return _default_registry()

    @classmethod
    def from_tsv(cls, path: Path) -> Registry:
        reg = cls()
        reg.load_tsv(path)
        return reg

    def add(self, term: Term) -> None:
        if term.name and term.name not in term.variants:
            term = replace(term, variants=(term.name, *term.variants))
        self._terms.append(term)
        self._index_dirty = True

    def load_tsv(self, path: Path) -> int:
        """Append the terms of a ``terms.tsv``-shaped file; returns how many were read."""
        n = 0
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                self.add(_term_from_row(row))
                n += 1
        return n

    def load_wikidata_json(self, path: Path, positions: PositionMap | None = None) -> int:
        """Add terms from Wikidata entity JSON (``{"entities": {QID: entity}}``, a list, or one entity).

        Each person's P39 (position held) statements whose position is in the position table become terms;
        P580/P582 qualifiers give start/end with their precision (11 day, 10 month, 9 year). Deprecated
        statements are skipped. Labels and aliases in every language become variants. Returns terms added.
        """
        pos = positions or load_positions()
        raw = json.loads(path.read_text(encoding="utf-8"))
        entities: Iterable[Any]
        if isinstance(raw, dict) and "entities" in raw:
            entities = raw["entities"].values()
        elif isinstance(raw, list):
            entities = raw
        else:
            entities = [raw]
        added = 0
        for ent in entities:
            qid = str(ent.get("id", ""))
            labels = ent.get("labels", {}) or {}
            variants: list[str] = []
            for lang in ("en", *sorted(labels)):
                value = labels.get(lang, {}).get("value")
                if value and value not in variants:
                    variants.append(value)
            for items in (ent.get("aliases", {}) or {}).values():
                for item in items:
                    if item.get("value") and item["value"] not in variants:
                        variants.append(item["value"])
            if not variants:
                continue
            for claim in (ent.get("claims", {}) or {}).get("P39", []):
                if claim.get("rank") == "deprecated":
                    continue
                pqid = _snak_entity(claim.get("mainsnak", {}))
                mapped = pos.get(pqid) if pqid else None
                if mapped is None:
                    continue
                country, org, role, office = mapped
                quals = claim.get("qualifiers", {}) or {}
                start, prec = _snak_time(quals.get("P580"))
                end, _ = _snak_time(quals.get("P582"))
                self.add(
                    Term(
                        person_id=qid or _slug(variants[0]),
                        name=variants[0],
                        variants=tuple(variants),
                        country=country,
                        org=org,
                        role=role,
                        start=start,
                        end=end,
                        office=office,
                        precision=prec,
                        origin=f"wikidata:{path.name}",
                    )
                )
                added += 1
        return added

    def apply_overrides(self, path: Path) -> int:
        """Apply a manual override TSV (columns ``action person_id name country org role office start end
        variants note``); returns rows applied.

        * ``add``: a new term from the row.
        * ``end``: set ``end`` on the matching open term(s) of person_id in that office.
        * ``fix``: overwrite the non-empty fields of the matching term(s); variants are added, not replaced.
          A non-empty ``start`` selects the term by its start date when the office was held more than once;
          to change a start date use ``remove`` + ``add``.
        * ``remove``: drop the matching term(s).
        Matching is by person_id + country/org + role. Unknown targets raise ``ValueError`` (typos must not
        pass silently).
        """
        applied = 0
        with path.open(encoding="utf-8", newline="") as fh:
            rows = [
                r
                for r in csv.DictReader(fh, delimiter="\t")
                if r.get("action") and not r["action"].startswith("#")
            ]
        for row in rows:
            action = row["action"].strip()
            if action == "add":
                self.add(_term_from_row({**row, "origin": row.get("origin") or f"override:{path.name}"}))
                applied += 1
                continue
            where = row.get("country") or row.get("org") or ""
            start, _ = parse_date(row.get("start"))
            hits = [
                i
                for i, t in enumerate(self._terms)
                if t.person_id == row["person_id"]
                and t.holder_of == where
                and t.role == row["role"]
                and (action == "end" and t.end is None or action != "end")
                and (start is None or action == "end" or t.start == start)
            ]
            if not hits:
                raise ValueError(
                    f"{path.name}: no term for {action} {row['person_id']} {where} {row['role']}"
                )
            if action == "remove":
                keep = set(range(len(self._terms))) - set(hits)
                self._terms = [t for i, t in enumerate(self._terms) if i in keep]
            for i in hits if action != "remove" else []:
                t = self._terms[i]
                if action == "end":
                    t = replace(t, end=parse_date(row["end"])[0])
                elif action == "fix":
                    new_variants = tuple(v for v in (row.get("variants") or "").split("|") if v)
                    t = replace(
                        t,
                        name=row.get("name") or t.name,
                        office=row.get("office") or t.office,
                        end=parse_date(row["end"])[0] if row.get("end") else t.end,
                        variants=t.variants + tuple(v for v in new_variants if v not in t.variants),
                    )
                else:
                    raise ValueError(f"{path.name}: unknown action {action!r}")
                self._terms[i] = replace(t, origin=f"{t.origin}+override")
            applied += 1
        self._index_dirty = True
        return applied

    # -- queries ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._terms)

    def __iter__(self) -> Iterator[Term]:
        return iter(self._terms)

    def names_index(self) -> Iterator[tuple[str, Term]]:
        """Every (variant, term) pair, variants as stored (any script). Feed a text matcher with them."""
        for term in self._terms:
            for variant in term.variants:
                yield variant, term

    def by_name(self, name: str, on: date | None = None) -> list[Term]:
        """Terms whose person matches ``name``, best first.

        Honorifics in the query ("Sheikh", "Dr", "г-н") are ignored.
        Order: terms active on ``on`` first; then match quality (full name, word subset, the query longer
        than a stored variant, surname only);
        then higher office (``ROLE_RANK``); then the term closest to ``on`` (latest start without ``on``).
        """
        self._ensure_index()
        keys = tuple(k for k in name_keys(name) if k not in _HONORIFICS) or name_keys(name)
        if not keys:
            return []
        quality: dict[int, int] = {}

        def note(ids: Iterable[int], q: int) -> None:
            for i in ids:
                if quality.get(i, 9) > q:
                    quality[i] = q

        note(self._full.get(tuple(sorted(keys)), ()), _QUALITY_FULL)
        if len(keys) >= 2:
            pools = [self._word.get(k, set()) for k in keys]
            candidates = set.intersection(*pools) if all(pools) else set()
            want = sorted(keys)
            for i in candidates:
                if any(_is_submultiset(want, sorted(vk)) for vk in self._variant_keys[i]):
                    note([i], _QUALITY_SUBSET)
            # the query has more words than a stored variant ("Ivan Duque Marquez" for "Iván Duque")
            for i in self._word.get(keys[-1], set()) | self._word.get(keys[0], set()):
                if any(len(vk) >= 2 and _is_submultiset(sorted(vk), want) for vk in self._variant_keys[i]):
                    note([i], _QUALITY_SUPERSET)
        else:
            note(self._surname.get(keys[0], ()), _QUALITY_SURNAME)

        def rank(i: int) -> tuple[int, int, int, int, int, int]:
            t = self._terms[i]
            if on is None:
                recency = -(t.start.toordinal() if t.start else 0)
                curated = 0 if t.origin.startswith("curated") else 1
                return (
                    0,
                    quality[i],
                    ROLE_RANK.get(t.role, 99),
                    OFFICE_RANK.get(t.office, 9),
                    recency,
                    curated,
                )
            return (
                0 if t.active(on) else 1,
                quality[i],
                ROLE_RANK.get(t.role, 99),
                OFFICE_RANK.get(t.office, 9),
                t.distance(on),
                # a tie (the French president is also Andorra's co-prince): the curated term first
                0 if t.origin.startswith("curated") else 1,
            )

        return [self._terms[i] for i in sorted(quality, key=rank)]

    def holders(
        self, country_or_org: str, role: str, on: date, max_stale_days: int | None = 730
    ) -> list[Term]:
        """All terms of that office active on ``on``, best first (office rank, then latest start)."""
        self._ensure_index()
        ids = self._by_office.get((country_or_org.upper(), role), [])
        active = [self._terms[i] for i in ids if self._terms[i].active(on, max_stale_days)]
        return sorted(
            active, key=lambda t: (OFFICE_RANK.get(t.office, 9), -(t.start.toordinal() if t.start else 0))
        )

    def holder(
        self, country_or_org: str, role: str, on: date, max_stale_days: int | None = 730
    ) -> Term | None:
        """Who held that office on ``on``: on a hand-over day the incoming holder; None if unknown."""
        found = self.holders(country_or_org, role, on, max_stale_days)
        return found[0] if found else None

    # -- internals --------------------------------------------------------------------------------
    def _ensure_index(self) -> None:
        if not self._index_dirty:
            return
        full: defaultdict[tuple[str, ...], set[int]] = defaultdict(set)
        word: defaultdict[str, set[int]] = defaultdict(set)
        surname: defaultdict[str, set[int]] = defaultdict(set)
        by_office: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        variant_keys: list[list[tuple[str, ...]]] = []
        for i, term in enumerate(self._terms):
            vks: list[tuple[str, ...]] = []
            for variant in term.variants:
                keys = name_keys(variant)
                if not keys:
                    continue
                vks.append(keys)
                full[tuple(sorted(keys))].add(i)
                for k in keys:
                    word[k].add(i)
                for k in _surname_keys(variant, term.country, keys):
                    surname[k].add(i)
            variant_keys.append(vks)
            by_office[(term.holder_of.upper(), term.role)].append(i)
        self._full, self._word, self._surname = dict(full), dict(word), dict(surname)
        self._by_office, self._variant_keys = dict(by_office), variant_keys
        self._index_dirty = False


def _is_submultiset(small: list[str], big: list[str]) -> bool:
    pool = list(big)
    for k in small:
        if k not in pool:
            return False
        pool.remove(k)
    return True


def _slug(name: str) -> str:
    return "-".join(normalize_name(name).split()) or "unknown"


def _term_from_row(row: Mapping[str, str | None]) -> Term:
    start, prec = parse_date(row.get("start"))
    end, _ = parse_date(row.get("end"))
    checked, _ = parse_date(row.get("checked"))
    name = (row.get("name") or "").strip()
    variants = tuple(dict.fromkeys(v for v in (name, *(row.get("variants") or "").split("|")) if v))
    return Term(
        person_id=(row.get("person_id") or "").strip() or _slug(name),
        name=name,
        variants=variants,
        country=(row.get("country") or "").strip().upper() or None,
        org=(row.get("org") or "").strip() or None,
        role=(row.get("role") or "").strip(),
        start=start,
        end=end,
        office=(row.get("office") or "").strip(),
        precision=(row.get("precision") or "").strip() or prec,
        checked=checked,
        origin=(row.get("origin") or "curated").strip(),
    )


def term_to_row(term: Term) -> dict[str, str]:
    """The ``terms.tsv`` row of a term (inverse of the loader)."""
    return {
        "person_id": term.person_id,
        "name": term.name,
        "country": term.country or "",
        "org": term.org or "",
        "role": term.role,
        "office": term.office,
        "start": _fmt(term.start),
        "end": _fmt(term.end),
        "precision": term.precision,
        "checked": _fmt(term.checked),
        "variants": "|".join(v for v in term.variants if v != term.name),
        "origin": term.origin,
    }


def _snak_entity(snak: Mapping[str, Any]) -> str | None:
    value = (snak.get("datavalue") or {}).get("value")
    if isinstance(value, dict) and "id" in value:
        return str(value["id"])
    return None


def _snak_time(snaks: list[Any] | None) -> tuple[date | None, str]:
    if not snaks:
        return None, "day"
    value = (snaks[0].get("datavalue") or {}).get("value") or {}
    text = str(value.get("time", "")).lstrip("+")
    if not text:
        return None, "day"
    precision = int(value.get("precision", 11))
    year, month, day = text[:4], text[5:7], text[8:10]
    if precision >= 11:
        return parse_date(f"{year}-{month}-{day}")
    if precision == 10:
        return parse_date(f"{year}-{month}")
    return parse_date(year)


_CACHE_VERSION = b"registry-cache-1"


def _sources_digest(data_dir: Path) -> str:
    # the pickled index depends on this module's normalisation code as much as on the data
    h = hashlib.sha256(_CACHE_VERSION + Path(__file__).read_bytes())
    for name in ("terms.tsv", "overrides.tsv"):
        path = data_dir / name
        h.update(name.encode() + (path.read_bytes() if path.exists() else b"-"))
    return h.hexdigest()


def build_registry(data_dir: Path = DATA_DIR) -> Registry:
    """Registry from ``terms.tsv`` plus ``overrides.tsv`` (if present), index built. No cache involved."""
    reg = Registry()
    reg.load_tsv(data_dir / "terms.tsv")
    overrides = data_dir / "overrides.tsv"
    if overrides.exists():
        reg.apply_overrides(overrides)
    reg._ensure_index()
    return reg


def load_cached(data_dir: Path = DATA_DIR, cache: Path | None = None, write: bool = True) -> Registry:
    """The registry, from a pickle of the built index when it matches the data files, else built and cached.

    Building parses ~1,800 terms and normalises ~4,000 variants (a few hundred ms on a busy machine); the
    pickle loads in tens of ms. The cache is keyed by a SHA-256 of the data files, so an edited TSV is never
    served stale; writing is best effort (atomic rename; a read-only install just builds in memory).
    """
    cache = cache or data_dir / "registry.cache.pickle"
    digest = _sources_digest(data_dir)
    try:
        with cache.open("rb") as fh:
            stored_digest, reg = pickle.load(fh)
        if stored_digest == digest and isinstance(reg, Registry):
            return reg
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ValueError, TypeError, ImportError):
        pass
    reg = build_registry(data_dir)
    if write:
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as fh:
                pickle.dump((digest, reg), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, cache)
        except OSError:
            tmp.unlink(missing_ok=True)
    return reg


@lru_cache(maxsize=1)
def _default_registry() -> Registry:
    return load_cached()

"""Build the office-holder registry data from the shared reference files and the curated YAML.

    python tools/build_registry.py [--reference /work/shared/reference/officeholders] [--check-only]

Reads   services/parser/data/officeholders/curated/*.yaml       (hand-curated terms, authoritative)
        <reference>/ (wikidata_cabinets, wikidata_heads, foreign_ministers_current, cia_factbook,
                      world_leaders_current; see its README)
Writes  services/parser/data/officeholders/terms.tsv            (one row per term)
        services/parser/data/officeholders/positions.tsv        (Wikidata position QID -> office)
        services/parser/data/officeholders/build_report.txt     (disagreements, gaps, counts)
        services/parser/data/officeholders/registry.cache.pickle (built index, keyed by a hash of the TSVs)

Precedence: for a (state, office) that the curated files cover, the curated terms are the terms; the
reference only contributes person QIDs and name variants (matched by state and fuzzy name) and is used to
cross-check the curated holders on every dated observation it has (disagreements go to the report). For a
(state, office) the curated files do not cover, terms are derived from the reference: union of the Wikidata
head-of-state/government snapshots (year precision), the Factbook's current holders ("since" = day), the two
foreign-minister snapshots, and the eight full cabinet histories.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import html
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.parser.registry import (  # noqa: E402
    TERMS_COLUMNS as COLUMNS,
)
from services.parser.registry import (  # noqa: E402
    Term,
    load_cached,
    name_keys,
    normalize_name,
    parse_date,
    term_to_row,
)

DATA = ROOT / "services" / "parser" / "data" / "officeholders"
DEFAULT_REF = Path("/work/shared/reference/officeholders")
WINDOW = (date(2015, 1, 1), date(2026, 11, 28))
ROLE_KEYS = {
    "hos": "head_of_state",
    "hog": "head_of_government",
    "fm": "foreign_minister",
    "dhos": "deputy_head_of_state",
    "dhog": "deputy_head_of_government",
}

# Wikidata/Wikipedia state labels that do not match CountryISO_Codes.csv names.
STATE_ALIASES = {
    "ivory coast": "CIV",
    "côte d'ivoire": "CIV",
    "czech republic": "CZE",
    "czechia": "CZE",
    "kingdom of the netherlands": "NLD",
    "netherlands": "NLD",
    "kingdom of denmark": "DNK",
    "danish realm": "DNK",
    "the gambia": "GMB",
    "gambia": "GMB",
    "east timor": "TLS",
    "timor-leste": "TLS",
    "state of palestine": "PSE",
    "palestine": "PSE",
    "federated states of micronesia": "FSM",
    "micronesia": "FSM",
    "north korea": "PRK",
    "south korea": "KOR",
    "vatican city": "VAT",
    "holy see": "VAT",
    "cape verde": "CPV",
    "people's republic of china": "CHN",
    "china": "CHN",
    "russia": "RUS",
    "iran": "IRN",
    "syria": "SYR",
    "laos": "LAO",
    "vietnam": "VNM",
    "bolivia": "BOL",
    "venezuela": "VEN",
    "tanzania": "TZA",
    "moldova": "MDA",
    "united states": "USA",
    "united states of america": "USA",
    "united kingdom": "GBR",
    "brunei": "BRN",
    "republic of the congo": "COG",
    "democratic republic of the congo": "COD",
    "eswatini": "SWZ",
    "taiwan": "TWN",
    "kosovo": "XKX",
    "north macedonia": "MKD",
    "turkey": "TUR",
    "türkiye": "TUR",
    "sahrawi arab democratic republic": "",
    "são tomé and príncipe": "STP",
    "sao tome and principe": "STP",
    "saint kitts and nevis": "KNA",
    "saint lucia": "LCA",
    "saint vincent and the grenadines": "VCT",
    "bahamas": "BHS",
    "the bahamas": "BHS",
    "myanmar": "MMR",
    "burma": "MMR",
    "south sudan": "SSD",
    "eritrea": "ERI",
    "bosnia and herzegovina": "BIH",
    "kyrgyzstan": "KGZ",
}


# ------------------------------------------------------------------------------------------ helpers


@dataclass
class Obs:
    """A reference statement: this person held the office on this day (for cross-checks)."""

    country: str
    role: str
    on: date
    names: list[str]
    qid: str
    origin: str


@dataclass
class RefPerson:
    qid: str
    country: str
    names: list[str] = field(default_factory=list)

    def add(self, *names: str | None) -> None:
        for n in names:
            if n and n not in self.names and not re.fullmatch(r"Q\d+", n):
                self.names.append(n)


_HONORIFICS = frozenset(
    {
        "sheikh",
        "shaikh",
        "prince",
        "princess",
        "dr",
        "count",
        "king",
        "queen",
        "emir",
        "amir",
        "sultan",
        "caretaker",
        "interim",
        "acting",
        "sir",
        "dame",
        "hrh",
        "h.e",
        "he",
    }
)


_PARTICLES = frozenset(
    {"al", "bin", "ibn", "bint", "de", "da", "di", "van", "von", "der", "la", "le", "el", "y"}
)


def _cmp_keys(name: str) -> tuple[str, ...]:
    """Comparison keys without honorifics and without a territorial suffix ('Felipe VI of Spain')."""
    name = re.split(r"\s+of\s+(?:the\s+)?[A-Z]", name)[0]
    return tuple(k for k in name_keys(name) if k not in _HONORIFICS and k not in _PARTICLES)


def fuzzy_same(a: str, b: str) -> bool:
    """Same person within one state? Used only inside one state, so the bar is transliteration noise and
    extra name parts: first names alike (>= 0.7), surnames alike (>= 0.85) and
    second words alike when both have three; or every word of the shorter
    name (2+ words) found in the longer one ('Abiy Ahmed' / 'Abiy Ahmed Ali'); or, for names of at most three
    words, the sorted words alike (>= 0.9, word order and hyphenation differ).
    One-word names must be equal.
    """
    ka, kb = _cmp_keys(a), _cmp_keys(b)
    if not ka or not kb:
        return False
    if sorted(ka) == sorted(kb):
        return True
    if len(ka) == 1 or len(kb) == 1:
        return False

    def ratio(x: str, y: str) -> float:
        return difflib.SequenceMatcher(None, x, y).ratio()

    second_ok = min(len(ka), len(kb)) < 3 or ratio(ka[1], kb[1]) >= 0.7
    if ratio(ka[0], kb[0]) >= 0.7 and ratio(ka[-1], kb[-1]) >= 0.85 and second_ok:
        return True
    short, long_ = (ka, kb) if len(ka) <= len(kb) else (kb, ka)
    if (
        len(long_) > len(short)
        and all(any(ratio(k, m) >= 0.8 for m in long_) for k in short)
        and ratio(short[-1], long_[-1]) >= 0.85
        or len(long_) > len(short)
        and all(any(ratio(k, m) >= 0.8 for m in long_) for k in short)
        and ratio(short[0], long_[0]) >= 0.85
    ):
        return True
    ja, jb = _cmp_keys(a.replace("-", "")), _cmp_keys(b.replace("-", ""))
    return max(len(ja), len(jb)) <= 3 and ratio(" ".join(sorted(ja)), " ".join(sorted(jb))) >= 0.9


def title_case_factbook(name: str) -> str:
    """'Kasym-Zhomart TOKAYEV' -> 'Kasym-Zhomart Tokayev' (the Factbook writes family names in capitals)."""
    return " ".join(w.capitalize() if w.isupper() and len(w) > 1 else w for w in name.split())


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------------------ codes


class Codes:
    def __init__(self, ref: Path) -> None:
        base = ref / "cia_factbook" / "codes"
        self.iso2to3: dict[str, str] = {}
        self.name2iso3: dict[str, str] = {}
        for row in read_csv(base / "CountryISO_Codes.csv"):
            self.iso2to3[row["ISOAlpha2"]] = row["ISOAlpha3"]
            for key in ("Name", "OfficialName"):
                if row.get(key):
                    self.name2iso3[row[key].casefold()] = row["ISOAlpha3"]
        self.gec: dict[str, tuple[str, str]] = {}
        for row in read_csv(base / "master_countries.csv"):
            iso3 = self.iso2to3.get(row["ISOAlpha2"], "")
            self.gec[row["CanonicalCode"].lower()] = (iso3, row["EntityType"])

    def by_name(self, label: str) -> str:
        key = label.casefold().strip()
        if key in STATE_ALIASES:
            return STATE_ALIASES[key]
        return self.name2iso3.get(key, "")


# ------------------------------------------------------------------------------------------ curated


def load_curated(paths: Iterable[Path]) -> tuple[list[Term], dict[str, list[str]], set[tuple[str, str]]]:
    terms: list[Term] = []
    people: dict[str, list[str]] = defaultdict(list)
    covered: set[tuple[str, str]] = set()
    raw_files = [(p, yaml.safe_load(p.read_text(encoding="utf-8"))) for p in sorted(paths)]
    for _, doc in raw_files:
        for name, variants in (doc.get("people") or {}).items():
            for v in str(variants).split("|"):
                v = v.strip()
                if v and v not in people[name]:
                    people[name].append(v)
    for path, doc in raw_files:
        checked, _ = parse_date(doc.get("checked"))
        origin = f"curated:{path.name}"
        for iso3, offices in (doc.get("states") or {}).items():
            hos_rows = offices.get("hos") or []
            for key, rows in offices.items():
                role = ROLE_KEYS[key]
                if rows == "same":
                    rows = hos_rows
                covered.add((iso3, role))
                for row in rows:
                    terms.append(_curated_term(str(row), iso3, None, role, "", checked, origin, people))
        for org, offices in (doc.get("orgs") or {}).items():
            for office, rows in offices.items():
                covered.add((org.upper(), office))
                for row in rows:
                    terms.append(
                        _curated_term(str(row), None, org, "org_head", office, checked, origin, people)
                    )
    return terms, people, covered


def _curated_term(
    row: str,
    country: str | None,
    org: str | None,
    role: str,
    office: str,
    checked: date | None,
    origin: str,
    people: dict[str, list[str]],
) -> Term:
    parts = [p.strip() for p in row.split(",")]
    name = parts[0]
    start, sp = parse_date(parts[1] if len(parts) > 1 else "")
    end, ep = parse_date(parts[2] if len(parts) > 2 else "")
    note = ", ".join(parts[3:]).strip()
    precision = sp if sp != "day" else ep
    if note.startswith(("acting", "caretaker", "interim")) and not office:
        office = note.split()[0]
    return Term(
        person_id="",
        name=name,
        variants=tuple(people.get(name, ())),
        country=country,
        org=org,
        role=role,
        start=start,
        end=end,
        office=office,
        precision=precision,
        checked=checked if end is None else None,
        origin=origin,
    )


# ------------------------------------------------------------------------------------------ reference


def classify_head(label: str) -> str:
    low = label.casefold()
    if any(
        w in low
        for w in (
            "prime minister",
            "premier",
            "chancellor",
            "taoiseach",
            "chairman of the council of",
            "chairman of the cabinet",
            "chief executive",
            "head of government",
            "president of the government",
            "chief adviser",
        )
    ):
        return "head_of_government"
    return "head_of_state"


def load_reference(
    ref: Path, codes: Codes
) -> tuple[list[Term], list[Obs], dict[str, RefPerson], list[dict[str, str]]]:
    """Reference terms (for uncovered offices), observations (for cross-checks), persons, positions."""
    terms: list[Term] = []
    obs: list[Obs] = []
    persons: dict[str, RefPerson] = {}
    positions: list[dict[str, str]] = []

    def person(qid: str, country: str, *names: str | None) -> str:
        key = qid or f"{country}:{normalize_name(names[0] or '')}"
        p = persons.setdefault(key, RefPerson(qid, country))
        p.add(*names)
        return key

    # 1. Cabinets (8 states, exact dates to mid-2022).
    for cab in sorted((ref / "wikidata_cabinets").iterdir()):
        iso3 = cab.name.upper()
        meta = json.loads((cab / "holders21.csv.meta.json").read_text(encoding="utf-8"))
        snap, _ = parse_date(str(meta.get("commit_date", "2022-07-01"))[:10])
        pos_rows = read_csv(cab / "positions.csv")
        for prow in pos_rows:
            role = _cabinet_role(prow["position"])
            if role:
                positions.append(
                    {
                        "qid": prow["id"],
                        "country": iso3,
                        "org": "",
                        "role": role,
                        "office": "",
                        "label": prow["position"],
                    }
                )
        for row in read_csv(cab / "holders21.csv"):
            role = _cabinet_role(row["position"])
            if not role:
                continue
            key = person(row["personID"], iso3, row["person"], row.get("enwiki"))
            start, sp = parse_date(row["start"])
            end, _ = parse_date(row["end"])
            origin = f"wikidata_cabinets/{cab.name}/holders21.csv"
            terms.append(
                Term(
                    key,
                    row["person"],
                    (),
                    iso3,
                    None,
                    role,
                    start,
                    end,
                    precision=sp,
                    checked=snap if end is None else None,
                    origin=origin,
                )
            )
            if start and (end is None or end > WINDOW[0]):
                lo = max(start, WINDOW[0])
                hi = end or snap or lo
                if hi >= lo:
                    obs.append(
                        Obs(
                            iso3,
                            role,
                            date.fromordinal((lo.toordinal() + hi.toordinal()) // 2),
                            [row["person"]],
                            row["personID"],
                            origin,
                        )
                    )
        for extra, qcol, ncol in (
            ("ruwiki_cabinet.csv", "item", "itemLabel"),
            ("bewiki_cabinet.csv", "person", "personBY"),
        ):
            if (cab / extra).exists():
                for row in read_csv(cab / extra):
                    qid = row.get(qcol, "")
                    if qid in persons:
                        persons[qid].add(row.get(ncol), row.get("personEN"))

    # 2. Heads of state / government, union of Wikidata snapshots (year precision).
    heads: dict[tuple[str, str, str], dict[str, object]] = {}
    for f in sorted((ref / "wikidata_heads").glob("wikidata.*.csv")):
        snap = date.fromisoformat(f.name.split(".")[1])
        for row in read_csv(f):
            iso3 = codes.by_name(row["country"])
            if not iso3:
                continue
            role = classify_head(row["positionLabel"])
            positions.append(
                {
                    "qid": row["position"],
                    "country": iso3,
                    "org": "",
                    "role": role,
                    "office": "",
                    "label": row["positionLabel"],
                }
            )
            if not re.fullmatch(r"Q\d+", row["officeholder"] or ""):
                continue
            key = person(row["officeholder"], iso3, row["officeholderLabel"])
            rec = heads.setdefault(
                (iso3, role, key),
                {"start": row["start_year"], "end": "", "seen": snap, "name": row["officeholderLabel"]},
            )
            if row["end_year"]:
                rec["end"] = row["end_year"]
            elif snap > rec["seen"]:  # type: ignore[operator]
                rec["seen"] = snap
            if not row["end_year"]:
                obs.append(
                    Obs(
                        iso3,
                        role,
                        snap,
                        [row["officeholderLabel"]],
                        row["officeholder"],
                        f"wikidata_heads/{f.name}",
                    )
                )

    # 3. Factbook current holders (2026-01-22).
    fb_date = date(2026, 1, 22)
    factbook: dict[tuple[str, str], list[tuple[str, date | None]]] = {}
    for f in sorted((ref / "cia_factbook").glob("*/*.json")):
        if f.name.endswith(".meta.json"):
            continue
        iso3, etype = codes.gec.get(f.stem, ("", ""))
        if not iso3 or etype != "sovereign":
            continue
        try:
            ex = json.loads(f.read_text(encoding="utf-8"))["Government"]["Executive branch"]
        except KeyError:
            continue
        texts = {
            r: html.unescape((ex.get(k) or {}).get("text", ""))
            for r, k in (("head_of_state", "chief of state"), ("head_of_government", "head of government"))
        }
        for role, text in texts.items():
            people_found = _factbook_people(text)
            factbook[(iso3, role)] = people_found
            for name, _since in people_found:
                obs.append(Obs(iso3, role, fb_date, [name], "", f"cia_factbook/{f.parent.name}/{f.name}"))

    # 4. world_leaders_current snapshots (28 states, local-script names, QIDs).
    for f in sorted((ref / "world_leaders_current").glob("snapshot_*.json")):
        if f.name.endswith(".meta.json"):
            continue
        snap = date.fromisoformat(f.stem.split("_")[1])
        doc = json.loads(f.read_text(encoding="utf-8"))
        for entry in doc["countries"].values():
            iso3 = codes.iso2to3.get(entry["country"].get("iso_code") or "", "")
            if not iso3:
                continue
            for role, pos in (entry.get("positions") or {}).items():
                h = (pos or {}).get("current_holder") or {}
                if not h.get("name_en"):
                    continue
                local = h.get("name_local") if h.get("name_local") != h.get("name_en") else None
                person(h.get("wikidata_id") or "", iso3, h["name_en"], local)
                obs.append(
                    Obs(
                        iso3,
                        role,
                        snap,
                        [h["name_en"]],
                        h.get("wikidata_id") or "",
                        f"world_leaders_current/{f.name}",
                    )
                )

    # 5. Foreign-minister snapshots (2022-08-08, 2023-01-09).
    fm_seen: dict[str, list[tuple[date, str, str, date | None]]] = defaultdict(list)
    for fname, ncol in (
        ("scraped.2022-08-08.csv", "personLabel"),
        ("scraped.2023-01-09.csv", "name"),
        ("wikidata.2023-01-09.csv", "name"),
    ):
        snap = date.fromisoformat(fname.split(".")[1])
        for row in read_csv(ref / "foreign_ministers_current" / fname):
            iso3 = codes.by_name(row["countryLabel"])
            if not iso3 or not row.get("person"):
                continue
            if fname.startswith("wikidata") and row.get("position") and row["position"] != "Q7330070":
                positions.append(
                    {
                        "qid": row["position"],
                        "country": iso3,
                        "org": "",
                        "role": "foreign_minister",
                        "office": "",
                        "label": row["positionLabel"],
                    }
                )
            key = person(row["person"], iso3, row[ncol])
            start, _ = parse_date(row.get("start"))
            fm_seen[iso3].append((snap, key, row[ncol], start))
            obs.append(
                Obs(
                    iso3,
                    "foreign_minister",
                    snap,
                    [row[ncol]],
                    row["person"],
                    f"foreign_minister_current/{fname}",
                )
            )

    terms += _derive_heads(heads, factbook, persons)
    terms += _derive_fms(fm_seen)
    return terms, obs, persons, positions


def _cabinet_role(label: str) -> str:
    low = label.casefold()
    if any(
        w in low
        for w in (
            "crimea",
            "sakha",
            "region",
            "oblast",
            "autonomous",
            "academy",
            "court",
            "aide",
            "representative",
            "envoy",
            "council of ministers of the republic of",
        )
    ):
        return ""
    if low.startswith(("deputy", "vice", "acting", "first deputy")):
        return "deputy_head_of_government" if "prime minister" in low or "premier" in low else ""
    if (
        low == "president"
        or low.startswith("president of")
        and "republic" not in low.split(" of ", 1)[1][:30]
        and not any(w in low for w in ("court", "academy", "sakha", "council", "bank"))
    ):
        return "head_of_state"
    if low.startswith(("prime minister", "premier of the state council", "chairman of the cabinet")):
        return "head_of_government"
    if low in ("minister of foreign affairs", "minister for foreign affairs") or low.startswith(
        ("minister of foreign affairs of", "minister for foreign affairs of")
    ):
        return "foreign_minister"
    return ""


_FB_SINCE = re.compile(r"\(since (\d{1,2} \w+ \d{4})")
_FB_NAME = re.compile(
    r"((?:[A-Z][\w'.-]*\s)*?(?:[A-Z][A-Z'’-]{1,}(?:\s[A-Z][A-Z'’-]+)*)(?:\s[A-Z][\w'’-]*)*)"
)
_TITLE_WORDS = frozenset(
    {
        "President",
        "Prime",
        "Minister",
        "King",
        "Queen",
        "Sultan",
        "Emir",
        "Amir",
        "Chancellor",
        "Premier",
        "Supreme",
        "Leader",
        "Co-prince",
        "Co-Prince",
        "Archbishop",
        "Bishop",
        "Chairman",
        "Chairperson",
        "Crown",
        "Prince",
        "Grand",
        "Duke",
        "Pope",
        "Transitional",
        "Interim",
        "Acting",
        "Federal",
        "Head",
        "of",
        "State",
        "the",
        "General",
        "Captain",
        "Captains",
        "Regent",
        "Chief",
        "Adviser",
        "Governor-General",
        "Emperor",
        "Shaykh",
        "Sheikh",
        "Vice",
        "and",
        "Presidency",
        "Council",
        "Sovereign",
        "Military",
        "Junta",
        "Caretaker",
        "Cabinet",
        "Ministers",
        "Taliban",
        "Affairs",
        "Commission",
        "Co-Vice",
        "Foreign",
        "People's",
        "Assembly",
        "overall",
        "Dr.",
    }
)


def _factbook_people(text: str) -> list[tuple[str, date | None]]:
    """Persons named in a Factbook executive text: names with the family name in capitals, plus 'since'."""
    out: list[tuple[str, date | None]] = []
    text = re.split(r"represented by", text)[0]
    for chunk in re.split(r";", text):
        words = [w for w in re.split(r"\s+", chunk.split("(")[0].strip()) if w]
        while words and words[0] in _TITLE_WORDS:
            words.pop(0)
        if not words or not any(w.isupper() and len(w) > 1 for w in words):
            continue
        name = title_case_factbook(" ".join(words))
        m = _FB_SINCE.search(chunk)
        since = None
        if m:
            try:
                from datetime import datetime

                since = datetime.strptime(m.group(1), "%d %B %Y").date()
            except ValueError:
                since = None
        out.append((name, since))
    return out


def _derive_heads(
    heads: dict[tuple[str, str, str], dict[str, object]],
    factbook: dict[tuple[str, str], list[tuple[str, date | None]]],
    persons: dict[str, RefPerson],
) -> list[Term]:
    """Terms for uncovered heads of state/government.

    Wikidata start years, ends inferred from the successor, the Factbook's 'since' for current holders.
    """
    by_office: dict[tuple[str, str], list[tuple[str, dict[str, object]]]] = defaultdict(list)
    for (iso3, role, key), rec in heads.items():
        by_office[(iso3, role)].append((key, rec))
    out: list[Term] = []
    for (iso3, role), recs in by_office.items():
        recs.sort(key=lambda kr: str(kr[1]["start"]))
        current = factbook.get((iso3, role), [])
        for i, (key, rec) in enumerate(recs):
            start, sp = parse_date(str(rec["start"]))
            end, _ = parse_date(str(rec["end"]))
            is_current = any(fuzzy_same(n, str(rec["name"])) for n, _ in current)
            for n, since in current:
                if (
                    is_current
                    and fuzzy_same(n, str(rec["name"]))
                    and since
                    and start
                    and since.year == start.year
                ):
                    start, sp = since, "day"
                    persons[key].add(n)
            checked: date | None = None
            if end is None and not is_current:
                later_starts = [parse_date(str(r["start"]))[0] for _, r in recs[i + 1 :]]
                later = [d for d in later_starts if d is not None and start is not None and d >= start]
                if later:
                    end = min(later)
                else:
                    seen = rec["seen"]
                    checked = seen if isinstance(seen, date) else None
            elif end is None:
                checked = date(2026, 1, 22)
            out.append(
                Term(
                    key,
                    str(rec["name"]),
                    (),
                    iso3,
                    None,
                    role,
                    start,
                    end,
                    precision=sp,
                    checked=checked,
                    origin="wikidata_heads",
                )
            )
        known = {str(r["name"]) for _, r in recs}
        for n, since in current:
            if not any(fuzzy_same(n, k) for k in known):
                out.append(
                    Term(
                        f"{iso3}:{normalize_name(n)}",
                        n,
                        (),
                        iso3,
                        None,
                        role,
                        since,
                        None,
                        checked=date(2026, 1, 22),
                        origin="cia_factbook",
                    )
                )
    return out


def _derive_fms(seen: dict[str, list[tuple[date, str, str, date | None]]]) -> list[Term]:
    out: list[Term] = []
    for iso3, rows in seen.items():
        by_person: dict[str, tuple[str, date | None, date]] = {}
        for snap, key, name, start in rows:
            old = by_person.get(key)
            last = max(snap, old[2]) if old else snap
            by_person[key] = (name, start or (old[1] if old else None), last)
        ordered = sorted(by_person.items(), key=lambda kv: kv[1][1] or date.min)
        for i, (key, (name, start, last)) in enumerate(ordered):
            nxt = ordered[i + 1][1][1] if i + 1 < len(ordered) else None
            end = nxt if nxt and last < date(2023, 1, 9) else None
            out.append(
                Term(
                    key,
                    name,
                    (),
                    iso3,
                    None,
                    "foreign_minister",
                    start,
                    end,
                    checked=last if end is None else None,
                    origin="foreign_ministers_current",
                )
            )
    return out


# ------------------------------------------------------------------------------------------ merge


def enrich(curated: list[Term], persons: dict[str, RefPerson]) -> list[Term]:
    """Give curated terms Wikidata QIDs and reference spellings (same state, fuzzy name); slugs otherwise."""
    by_country: dict[str, list[RefPerson]] = defaultdict(list)
    for p in persons.values():
        by_country[p.country].append(p)
    ids: dict[tuple[str, str], str] = {}
    out: list[Term] = []
    for t in curated:
        variants = list(t.variants)
        pid = ids.get((t.holder_of, t.name), "")
        if not pid and t.country:
            for p in by_country.get(t.country, []):
                if any(fuzzy_same(t.name, n) for n in p.names[:3]) and p.qid:
                    pid = p.qid
                    for n in p.names:
                        if n not in variants and n != t.name:
                            variants.append(n)
                    break
        pid = pid or "-".join(normalize_name(t.name).split())
        ids[(t.holder_of, t.name)] = pid
        out.append(
            Term(
                pid,
                t.name,
                tuple(variants),
                t.country,
                t.org,
                t.role,
                t.start,
                t.end,
                t.office,
                t.precision,
                t.checked,
                t.origin,
            )
        )
    # one person, one id: the same curated name in several states/orgs shares the QID found anywhere
    by_name = {t.name: t.person_id for t in out if re.fullmatch(r"Q\d+", t.person_id)}
    return [
        replace(t, person_id=by_name.get(t.name, t.person_id))
        for t in out
    ]


def cross_check(terms: list[Term], obs: list[Obs], covered: set[tuple[str, str]]) -> list[str]:
    by_office: dict[tuple[str, str], list[Term]] = defaultdict(list)
    for t in terms:
        by_office[(t.holder_of, t.role)].append(t)
    lines: list[str] = []
    for o in obs:
        if (o.country, o.role) not in covered or o.on < WINDOW[0]:
            continue
        active = [t for t in by_office[(o.country, o.role)] if t.active(o.on)]
        if any(o.qid and t.person_id == o.qid for t in active):
            continue
        if any(fuzzy_same(n, v) for t in active for v in (t.name, *t.variants) for n in o.names):
            continue
        have = ", ".join(t.name for t in active) or "nobody"
        lines.append(f"{o.country}\t{o.role}\t{o.on}\treference: {o.names[0]} ({o.origin})\tcurated: {have}")
    return sorted(set(lines))


def coverage(terms: list[Term], max_gap: int = 60) -> tuple[list[str], dict[str, list[str]]]:
    """Curated states whose HoS, HoG and FM are known for the whole window without long gaps."""
    by_office: dict[tuple[str, str], list[Term]] = defaultdict(list)
    for t in terms:
        if t.country:
            by_office[(t.country, t.role)].append(t)
    ok: list[str] = []
    gaps: dict[str, list[str]] = {}
    for iso3 in sorted({t.country for t in terms if t.country and t.origin.startswith("curated")}):
        problems: list[str] = []
        for role in ("head_of_state", "head_of_government", "foreign_minister"):
            problems += [f"{role}: {g}" for g in office_gaps(by_office[(iso3, role)], max_gap)]
        if problems:
            gaps[iso3] = problems
        else:
            ok.append(iso3)
    return ok, gaps


def office_gaps(terms: list[Term], max_gap: int) -> list[str]:
    spans = sorted(((t.start or date.min), (t.end or WINDOW[1])) for t in terms)
    cursor = WINDOW[0]
    out = []
    for s, e in spans:
        if s > cursor and (s - cursor).days > max_gap and s <= WINDOW[1]:
            out.append(f"{cursor}..{s} ({(s - cursor).days} d)")
        cursor = max(cursor, e)
    if cursor < WINDOW[1] and (WINDOW[1] - cursor).days > max_gap:
        out.append(f"{cursor}..{WINDOW[1]} ({(WINDOW[1] - cursor).days} d)")
    return out


def write_tsv(path: Path, rows: list[dict[str, str]], columns: Iterable[str]) -> None:
    cols = list(columns)
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols, delimiter="\t", lineterminator="\n", extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({c: (r.get(c) or "").replace("\t", " ") for c in cols})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, default=DEFAULT_REF)
    ap.add_argument("--check-only", action="store_true", help="report, do not write terms.tsv/positions.tsv")
    args = ap.parse_args(argv)

    codes = Codes(args.reference)
    curated, people, covered = load_curated((DATA / "curated").glob("*.yaml"))
    ref_terms, obs, persons, positions = load_reference(args.reference, codes)
    curated = enrich(curated, persons)

    # reference terms only where the curated files are silent; attach reference spellings there too
    extra: list[Term] = []
    for t in ref_terms:
        if (t.holder_of, t.role) in covered or t.role == "deputy_head_of_government" and False:
            continue
        p = persons.get(t.person_id)
        pid = p.qid if p and p.qid else "-".join(normalize_name(t.name).split())
        names = [n for n in (p.names if p else []) if n != t.name]
        names += [n for n in people.get(t.name, []) if n not in names]
        extra.append(
            Term(
                pid,
                t.name,
                tuple(names),
                t.country,
                t.org,
                t.role,
                t.start,
                t.end,
                t.office,
                t.precision,
                t.checked,
                t.origin,
            )
        )
    terms = sorted(
        curated + extra, key=lambda t: (t.holder_of, t.role, t.office, t.start or date.min, t.name)
    )

    disagreements = cross_check(curated, obs, covered)
    ok, gaps = coverage(terms)
    report = [
        f"terms: {len(terms)} (curated {len(curated)}, reference-derived {len(extra)})",
        f"persons: {len({t.person_id for t in terms})}; with Wikidata QID: "
        f"{len({t.person_id for t in terms if re.fullmatch(r'Q[0-9]+', t.person_id)})}",
        f"states with HoS/HoG/FM 2015-01-01..{WINDOW[1]} without gaps > 60 d: {len(ok)}",
        "  " + " ".join(ok),
        f"curated states with gaps: {len(gaps)}",
        *[f"  {k}: {'; '.join(v)}" for k, v in sorted(gaps.items())],
        f"cross-check disagreements with the reference: {len(disagreements)}",
        *["  " + d for d in disagreements],
    ]
    if args.check_only:
        print("\n".join(report))
        return 0
    write_tsv(DATA / "terms.tsv", [term_to_row(t) for t in terms], COLUMNS)
    uniq: dict[str, dict[str, str]] = {}
    for pos in positions:
        uniq.setdefault(pos["qid"], pos)
    write_tsv(
        DATA / "positions.tsv",
        sorted(uniq.values(), key=lambda p: (p["country"], p["role"], p["qid"])),
        ("qid", "country", "org", "role", "office", "label"),
    )
    (DATA / "build_report.txt").write_text("\n".join(report) + "\n", encoding="utf-8")
    (DATA / "registry.cache.pickle").unlink(missing_ok=True)
    load_cached(DATA)
    print("\n".join(report[:4]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

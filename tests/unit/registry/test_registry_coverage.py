"""Coverage and consistency of the bundled data: who held the three top offices of >= 80 states, 2015-2026."""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from datetime import date, timedelta

from services.parser.registry import DATA_DIR, Registry, Term, build_registry, load_cached

WINDOW = (date(2015, 1, 1), date(2026, 11, 28))
ROLES = ("head_of_state", "head_of_government", "foreign_minister")
MAX_GAP = 60


def _gaps(terms: list[Term]) -> list[tuple[date, date]]:
    spans = sorted((t.start or date.min, t.end or WINDOW[1]) for t in terms)
    cursor, out = WINDOW[0], []
    for start, end in spans:
        if start > cursor + timedelta(days=MAX_GAP) and start <= WINDOW[1]:
            out.append((cursor, start))
        cursor = max(cursor, end)
    if cursor + timedelta(days=MAX_GAP) < WINDOW[1]:
        out.append((cursor, WINDOW[1]))
    return out


def test_at_least_80_states_fully_covered() -> None:
    by_office: defaultdict[tuple[str, str], list[Term]] = defaultdict(list)
    for t in Registry.default():
        if t.country and t.origin.startswith(("curated", "override")):
            by_office[(t.country, t.role)].append(t)
    states = sorted({c for c, _ in by_office})
    covered, report = [], []
    for iso3 in states:
        gaps = {role: _gaps(by_office[(iso3, role)]) for role in ROLES}
        if any(gaps.values()):
            report.append(f"{iso3}: " + "; ".join(f"{r} {a}..{b}" for r, g in gaps.items() for a, b in g))
        else:
            covered.append(iso3)
    print(f"{len(covered)} states covered; gaps: " + " | ".join(report))
    assert len(covered) >= 80, report
    for iso3 in (
        "USA",
        "GBR",
        "FRA",
        "RUS",
        "CHN",
        "KAZ",
        "UZB",
        "KGZ",
        "TJK",
        "TKM",
        "AZE",
        "GEO",
        "DEU",
        "JPN",
        "IND",
        "BRA",
        "TUR",
        "SAU",
        "ZAF",
        "IRN",
        "EGY",
        "ISR",
        "ETH",
    ):
        assert iso3 in covered, iso3


def test_curated_terms_of_one_office_do_not_overlap() -> None:
    """Different people in one office overlap at most on the hand-over day (acting holders excepted)."""
    by_office: defaultdict[tuple[str, str, str], list[Term]] = defaultdict(list)
    for t in Registry.default():
        if (
            t.origin.startswith("curated")
            and t.office not in ("acting", "caretaker", "interim")
            and not t.role.startswith("deputy")
        ):
            by_office[(t.holder_of, t.role, t.office)].append(t)
    overlaps = []
    for key, terms in by_office.items():
        terms.sort(key=lambda t: t.start or date.min)
        for a, b in zip(terms, terms[1:], strict=False):
            if a.person_id != b.person_id and a.end and b.start and a.end > b.start + timedelta(days=1):
                overlaps.append(f"{key}: {a.name} to {a.end} / {b.name} from {b.start}")
            if a.end is None and a.person_id != b.person_id:
                overlaps.append(f"{key}: {a.name} open / {b.name} from {b.start}")
    assert overlaps == []


def test_every_term_is_well_formed() -> None:
    roles = {
        "head_of_state",
        "head_of_government",
        "foreign_minister",
        "org_head",
        "deputy_head_of_government",
        "deputy_head_of_state",
    }
    for t in Registry.default():
        assert t.role in roles, t
        assert bool(t.country) != bool(t.org), t
        assert t.start is None or t.end is None or t.start <= t.end, t
        assert t.name, t
        assert t.person_id, t


def test_default_loads_fast() -> None:
    """Cached load well under 200 ms (measured ~40 ms; the bound leaves room for a busy CI machine)."""
    load_cached()  # make sure the cache matches the data files
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        load_cached(write=False)
        runs.append(time.perf_counter() - t0)
    assert statistics.median(runs) < 0.5


def test_cache_equals_fresh_build() -> None:
    fresh = build_registry(DATA_DIR)
    cached = load_cached(write=False)
    assert list(fresh) == list(cached)

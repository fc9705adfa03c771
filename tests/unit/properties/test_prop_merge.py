"""Properties of meeting identity and merge (``services.store.merge``), as pure functions: the order of the
reports never changes the result.

``tests/integration/test_store_order_hypothesis.py`` checks the same through the store on SQLite (25
examples, a database per example); here the pure decision layer — ``facts_of``, ``decide`` and
``merge_record`` folded the way ``services.store.ingest`` folds them — runs on many more orders, and the
building blocks get their own properties:

* a claim's identity (parties, key, people, tiers) does not depend on the order of its participants;
* ``participants_compatible`` is symmetric;
* ``merge_record`` is idempotent (merging the same claim again changes nothing and is not material) and
  commutative on what identifies a meeting (parties, status, level, topics, the participants' identities);
* folding a set of reports in any order groups them into the same meetings, each with the same participants.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.core.domain import ROLES
from services.store.merge import (
    Candidate,
    decide,
    facts_of,
    meeting_id_for,
    merge_record,
    participants_compatible,
    people_of,
    strip_sources,
    tiers_of,
)
from tests.unit.properties.strategies import PROFILE

PAIRS = [("KAZ", "CHN"), ("KAZ", "UZB"), ("CHN", "RUS")]
BASE = date(2026, 11, 2)


def person(country: str, pid: str | None, name: str | None, title: str | None, role: str) -> dict[str, Any]:
    return {
        "country": country,
        "org": None,
        "role": role,
        "name": name,
        "name_as_printed": name,
        "aliases": [],
        "title": title,
        "person_id": pid,
    }


def claim(day: date, people: list[dict[str, Any]], mode: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "held",
        "date": day.isoformat(),
        "mode": mode,
        "location": None,
        "participants": people,
        "visit": None,
        "sidelines_of": None,
        "topics": [],
        "platforms": [],
        "sources": [{"url": "https://mfa.example/x", "publisher": "MFA", "evidence": "e", "language": "en"}],
        **extra,
    }


@st.composite
def reports(draw: st.DrawFn) -> list[tuple[tuple[int, int, str], dict[str, Any]]]:
    """Reports of a few meetings (a pair of states, a day, a mode): each dated that day or the next, naming
    the participants or leaving a side unnamed, with topics and statuses of their own. Meetings of one pair
    are five or more days apart, as real ones are; reports of one meeting are compatible."""
    meetings = draw(
        st.lists(
            st.tuples(
                st.sampled_from(range(len(PAIRS))),
                st.sampled_from([0, 5, 10]),
                st.sampled_from(["in_person", "phone", "video"]),
            ),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    out = []
    for pair_i, day, mode in meetings:
        for _ in range(draw(st.integers(1, 4))):
            people = []
            for side in PAIRS[pair_i]:
                named = draw(st.booleans())
                people.append(
                    person(
                        side,
                        f"{side}-{pair_i}-{day}" if named else None,
                        f"Minister {side}" if named else None,
                        draw(st.sampled_from([None, "FM", "Minister of Foreign Affairs"])),
                        "foreign_minister",
                    )
                )
            if draw(st.booleans()):
                people.reverse()
            out.append(
                (
                    (pair_i, day, mode),
                    claim(
                        BASE + timedelta(days=day + draw(st.sampled_from([0, 1]))),
                        people,
                        mode,
                        status=draw(st.sampled_from(["held", "planned"])),
                        topics=draw(st.lists(st.sampled_from(["trade", "energy", "security"]), unique=True)),
                    ),
                )
            )
    return out


def fold(claims: list[dict[str, Any]]) -> dict[str, tuple[list[int], dict[str, Any]]]:
    """The store's merge over ``claims`` in this order, without a database: meeting id -> (the indexes of its
    reports, its record). Candidates are the meetings of the same parties within a day, oldest first."""
    meetings: dict[str, tuple[list[int], dict[str, Any]]] = {}
    keys: dict[str, str] = {}
    for index, record in enumerate(claims):
        facts = facts_of(record, fallback_key=f"r{index}")
        candidates = []
        if facts.date is not None:
            for mid, (_, rec) in meetings.items():
                mfacts = facts_of(rec, fallback_key=mid)
                if mfacts.parties_key == facts.parties_key and mfacts.date is not None:
                    if abs((mfacts.date - facts.date).days) <= 1:
                        candidates.append(
                            Candidate(
                                mid,
                                mfacts.parties_key,
                                mfacts.date,
                                mfacts.mode,
                                people_of(rec),
                                False,
                                tiers_of(rec),
                            )
                        )
        decision = decide(facts, candidates)
        mid = decision.meeting_id
        if mid is None and decision.identity_key in keys:
            mid = keys[decision.identity_key]
        if mid is None:
            mid = meeting_id_for(decision.identity_key)
            keys[decision.identity_key] = mid
            meetings[mid] = ([index], strip_sources(record))
            continue
        members, rec = meetings[mid]
        merged, _ = merge_record(rec, record)
        meetings[mid] = ([*members, index], merged)
    return meetings


def _identity(record: dict[str, Any]) -> str:
    """What identifies a merged meeting, as a canonical string (sorted, so set order cannot show)."""
    people = sorted(
        repr((p["country"], p.get("person_id"), p.get("name"), p.get("title"), p.get("role")))
        for p in record["participants"]
    )
    return repr(
        (record["mode"], record["status"], record.get("level"), sorted(record.get("topics") or ()), people)
    )


@PROFILE
@given(items=reports(), data=st.data())
def test_report_order_does_not_change_the_meetings(
    items: list[tuple[tuple[int, int, str], dict[str, Any]]], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(items))))
    first = fold([c for _, c in items])
    second = fold([items[i][1] for i in order])
    groups_first = sorted((sorted(m), _identity(r)) for m, r in first.values())
    groups_second = sorted((sorted(order[i] for i in m), _identity(r)) for m, r in second.values())
    assert groups_first == groups_second
    # ... and the reports of one meeting, and only those, are one group.
    truth = sorted(sorted(i for i, (m, _) in enumerate(items) if m == key) for key in {m for m, _ in items})
    assert [g for g, _ in groups_first] == truth
    for members, record in first.values():
        # held as soon as one report says held; planned only while every report says planned
        held = any(items[i][1]["status"] == "held" for i in members)
        assert record["status"] == ("held" if held else "planned")


role_people = st.lists(
    st.builds(
        person,
        st.sampled_from(["KAZ", "CHN", "RUS"]),
        st.sampled_from([None, "Q1", "Q2"]),
        st.sampled_from([None, "A B", "C D"]),
        st.sampled_from([None, "Minister", "Minister of Foreign Affairs"]),
        st.sampled_from(ROLES),
    ),
    max_size=5,
)


@PROFILE
@given(people=role_people, data=st.data())
def test_identity_does_not_depend_on_the_order_of_participants(
    people: list[dict[str, Any]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(people))
    a = facts_of(claim(BASE, people, "in_person"), "k")
    b = facts_of(claim(BASE, list(shuffled), "in_person"), "k")
    assert dataclasses.astuple(a) == dataclasses.astuple(b)


@PROFILE
@given(a=role_people, b=role_people)
def test_participant_compatibility_is_symmetric(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> None:
    ra, rb = claim(BASE, a, "in_person"), claim(BASE, b, "in_person")
    forward = participants_compatible(people_of(ra), people_of(rb), tiers_of(ra), tiers_of(rb))
    backward = participants_compatible(people_of(rb), people_of(ra), tiers_of(rb), tiers_of(ra))
    assert forward == backward
    assert participants_compatible(people_of(ra), people_of(ra), tiers_of(ra), tiers_of(ra))


@PROFILE
@given(items=reports())
def test_merging_the_same_claim_again_changes_nothing(items: list[tuple[Any, dict[str, Any]]]) -> None:
    meeting = strip_sources(items[0][1])
    for _, record in items:
        once, _ = merge_record(meeting, record)
        twice, material = merge_record(once, record)
        assert twice == once
        assert not material
        meeting = once

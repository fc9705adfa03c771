"""The merge decision (pure): which meeting a claim joins, and what merging a report changes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.store.merge import Candidate, decide, facts_of, meeting_id_for, merge_record


def record(
    parties: tuple[str, ...] = ("KAZ", "FIN"),
    day: str | None = "2025-03-04",
    mode: str = "in_person",
    **extra: Any,
) -> dict[str, Any]:
    people = [
        {"country": c, "org": None, "role": "foreign_minister", "name": f"Minister of {c}", "title": None}
        for c in parties
    ]
    return {"status": "held", "date": day, "mode": mode, "participants": people, "location": None, **extra}


def cand(id_: str, parties: str = "FIN|KAZ", day: str = "2025-03-04", mode: str = "in_person") -> Candidate:
    return Candidate(id=id_, parties=parties, date=date.fromisoformat(day), mode=mode)


def test_identity_is_sorted_parties_date_and_mode() -> None:
    a = facts_of(record(("KAZ", "FIN")), "doc:1")
    b = facts_of(record(("FIN", "KAZ")), "doc:2")
    assert a.identity_key == b.identity_key == "FIN|KAZ@2025-03-04#in_person"
    assert meeting_id_for(a.identity_key) == meeting_id_for(b.identity_key)


def test_organisations_are_parties() -> None:
    rec = record(("KAZ",))
    rec["participants"].append({"country": None, "org": "OSCE", "role": "org_head"})
    assert facts_of(rec, "d").parties == ("KAZ", "ORG:OSCE")


def test_no_candidates_means_a_new_meeting() -> None:
    decision = decide(facts_of(record(), "d"), [])
    assert (decision.meeting_id, decision.rule) == (None, "new")


def test_same_day_joins_with_same_key_rule() -> None:
    decision = decide(facts_of(record(), "d"), [cand("m1")])
    assert (decision.meeting_id, decision.rule) == ("m1", "same_key")


@pytest.mark.parametrize("day", ["2025-03-03", "2025-03-05"])
def test_a_day_apart_joins_with_date_rule(day: str) -> None:
    decision = decide(facts_of(record(day=day), "d"), [cand("m1")])
    assert (decision.meeting_id, decision.rule) == ("m1", "date_within_1d")


def test_two_days_apart_is_another_meeting() -> None:
    assert decide(facts_of(record(day="2025-03-06"), "d"), [cand("m1")]).meeting_id is None


def test_closest_date_wins() -> None:
    decision = decide(
        facts_of(record(day="2025-03-04"), "d"), [cand("m-before", day="2025-03-03"), cand("m-same")]
    )
    assert decision.meeting_id == "m-same"


def test_a_call_and_a_visit_are_different_meetings() -> None:
    assert decide(facts_of(record(mode="phone"), "d"), [cand("m1")]).meeting_id is None


def test_other_parties_never_match() -> None:
    assert decide(facts_of(record(("KAZ", "UZB")), "d"), [cand("m1")]).meeting_id is None


@pytest.mark.parametrize("rec", [record(("KAZ",)), record(day=None)])
def test_unmatchable_claims_stay_alone(rec: dict[str, Any]) -> None:
    facts = facts_of(rec, "7:0")
    decision = decide(facts, [cand("m1")])
    assert (decision.meeting_id, decision.rule, decision.identity_key) == (None, "unmatched", "unmatched:7:0")


def test_merge_fills_gaps_and_never_overwrites() -> None:
    first = record(location={"city": "Astana", "country": "KAZ"}, topics=["trade"], visit=None)
    second = record(
        location={"city": "Almaty", "country": "KAZ"},
        topics=["education"],
        visit={"visitor": "FIN", "host": "KAZ", "type": "official"},
    )
    merged, changed = merge_record(first, second)
    assert merged["location"]["city"] == "Astana"
    assert merged["visit"] == {"visitor": "FIN", "host": "KAZ", "type": "official"}
    assert merged["topics"] == ["trade", "education"]
    assert changed


def test_merge_is_idempotent_and_sources_are_not_material() -> None:
    base = record(topics=["trade"])
    merged, _ = merge_record(
        base, record(topics=["trade", "energy"], sources=[{"url": "https://x.example/1"}])
    )
    assert "sources" not in merged
    again, changed = merge_record(merged, record(topics=["energy"]))
    assert again == merged
    assert not changed


def test_planned_upgrades_to_held_and_stays_held() -> None:
    planned = record(status="planned")
    held, changed = merge_record(planned, record())
    assert held["status"] == "held"
    assert changed
    still, changed = merge_record(held, record(status="planned"))
    assert still["status"] == "held"
    assert not changed


def test_participants_unite_and_fill_names() -> None:
    a = record()
    a["participants"][1]["name"] = None
    b = record()
    b["participants"].append({"country": "KAZ", "org": None, "role": "head_of_state", "name": "President"})
    merged, changed = merge_record(a, b)
    assert [p["name"] for p in merged["participants"]] == ["Minister of KAZ", "Minister of FIN", "President"]
    assert merged["level"] == "head_of_state"
    assert changed


def test_participants_unite_by_registry_id_with_the_best_title() -> None:
    from services.store.merge import best_title

    ru = record(("KAZ", "CHN"))
    ru["participants"][1].update(person_id="Q701801", name="Wang Yi", title="Министр", aliases=["Ван И"])
    zh = record(("CHN", "KAZ"))
    zh["participants"][0].update(
        person_id="Q701801", name="Wang Yi", title="外交部长王毅同志", name_as_printed="王毅", role="minister"
    )
    merged, _ = merge_record(ru, zh)
    chn = [p for p in merged["participants"] if p["country"] == "CHN"]
    assert len(chn) == 1
    assert chn[0]["title"] == best_title("Министр", "外交部长王毅同志") == "外交部长王毅同志"
    assert chn[0]["aliases"] == ["Ван И", "王毅"]
    assert best_title("FM", "MF") == best_title("MF", "FM") == "FM"


def test_identified_different_people_are_incompatible() -> None:
    from services.store.merge import participants_compatible

    a = record(("KAZ", "CHN"))
    a["participants"][0]["person_id"] = "k1"
    b = record(("KAZ", "CHN"))
    b["participants"][0]["person_id"] = "k2"
    fa, fb = facts_of(a, "a"), facts_of(b, "b")
    assert not participants_compatible(fa.people, fb.people)
    assert participants_compatible(fa.people, facts_of(record(("KAZ", "CHN")), "c").people)
    stored = Candidate(id="m1", parties="CHN|KAZ", date=date(2025, 3, 4), mode="in_person", people=fa.people)
    decision = decide(fb, [stored])
    assert decision.meeting_id is None
    assert decision.identity_key != fa.identity_key


def test_pinned_meetings_are_never_candidates() -> None:
    pinned = Candidate(id="m1", parties="FIN|KAZ", date=date(2025, 3, 4), mode="in_person", pinned=True)
    assert decide(facts_of(record(), "d"), [pinned]).meeting_id is None

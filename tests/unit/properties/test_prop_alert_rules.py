"""Properties of the alert rules (``services.alerts.rules``), the pure decisions behind "one alert per rule
and meeting" (reliability cases 7 and 8):

* ``matches`` depends on the participants as a set: the order of the pair (or of any list of them) never
  changes the answer;
* a rule whose only condition is ``level_at_least: X`` matches a held meeting exactly when some participant's
  role reaches X (``ROLE_RANK[role] >= LEVEL_THRESHOLDS[X]``); ``states_any``/``states_all`` are exactly set
  intersection/inclusion over the participants' countries;
* ``plan_deliveries`` sends each destination once, however many rules (or repeated rules) name it; once its
  rules are marked alerted, the same record planned again as ``created`` (a redelivered task) sends nothing,
  and as ``updated`` sends only updates, only to rules with ``notify_updates``.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from services.alerts.rules import (
    LEVEL_THRESHOLDS,
    ROLE_RANK,
    Rule,
    channel_key,
    matches,
    plan_deliveries,
    rules_to_alert,
)
from services.core.domain import ROLES
from tests.unit.properties.strategies import PROFILE

STATES = ["KAZ", "CHN", "UZB", "RUS", "USA"]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

participants = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from([*ROLES, "unknown_role"]),
            "country": st.one_of(st.none(), st.sampled_from(STATES)),
            "org": st.one_of(st.none(), st.sampled_from(["UN", "SCO", "un"])),
            "name": st.one_of(st.none(), st.just("A B")),
        }
    ),
    min_size=0,
    max_size=4,
)


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "id": "m-1",
        "status": draw(st.sampled_from(["held", "planned"])),
        "mode": draw(st.sampled_from(["in_person", "phone", "video"])),
        "participants": draw(participants),
        "topics": draw(st.lists(st.sampled_from(["trade", "energy", "security"]), unique=True)),
        "sources": [{"title": draw(st.sampled_from(["Talks on trade", "Визит", "会谈"])), "evidence": "e"}],
    }


_channels = st.sampled_from(
    [
        {"email": "desk@example.org"},
        {"email": "DESK@example.org"},
        {"email": "other@example.org"},
        {"webhook": "https://hooks.example/a", "secret": SECRET},
        {"webhook": "https://hooks.example/b", "secret": SECRET},
        {"apprise": "tgram://bot/chat"},
    ]
)


@st.composite
def rules(draw: st.DrawFn, name: str) -> Rule:
    match: dict[str, Any] = {}
    if draw(st.booleans()):
        match["level_at_least"] = draw(st.sampled_from(sorted(LEVEL_THRESHOLDS)))
    if draw(st.booleans()):
        match["states_any"] = draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        match["states_all"] = draw(st.lists(st.sampled_from(STATES), min_size=1, max_size=2))
    if draw(st.integers(0, 3)) == 0:
        match["modes"] = draw(st.lists(st.sampled_from(["in_person", "phone", "video"]), min_size=1))
    if draw(st.integers(0, 3)) == 0:
        match["status"] = "planned"
    if draw(st.integers(0, 4)) == 0:
        match["orgs_any"] = ["un"]
    return Rule.model_validate(
        {
            "name": name,
            "match": match,
            "channels": draw(st.lists(_channels, min_size=1, max_size=3)),
            "notify_updates": draw(st.booleans()),
        }
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> list[Rule]:
    return [draw(rules(f"r{i}")) for i in range(draw(st.integers(1, 4)))]


@PROFILE
@given(rule=rules("r"), record=records(), data=st.data())
def test_matching_does_not_depend_on_the_order_of_participants(
    rule: Rule, record: dict[str, Any], data: st.DataObject
) -> None:
    shuffled = {**record, "participants": data.draw(st.permutations(record["participants"]))}
    assert matches(rule, shuffled) == matches(rule, record)


@PROFILE
@given(level=st.sampled_from(sorted(LEVEL_THRESHOLDS)), people=participants)
def test_a_level_rule_matches_exactly_when_a_participant_reaches_the_level(
    level: str, people: list[dict[str, Any]]
) -> None:
    rule = Rule.model_validate(
        {"name": "r", "match": {"level_at_least": level}, "channels": [{"email": "a@b.cd"}]}
    )
    record = {"status": "held", "participants": people}
    reaches = level == "any" or any(ROLE_RANK.get(p["role"], -1) >= LEVEL_THRESHOLDS[level] for p in people)
    assert matches(rule, record) == reaches


@PROFILE
@given(wanted=st.lists(st.sampled_from(STATES), min_size=1, max_size=3), people=participants)
def test_state_conditions_are_set_intersection_and_inclusion(
    wanted: list[str], people: list[dict[str, Any]]
) -> None:
    record = {"status": "held", "participants": people}
    states = {p["country"] for p in people if p["country"]}
    any_rule = Rule.model_validate(
        {"name": "a", "match": {"states_any": wanted}, "channels": [{"email": "a@b.cd"}]}
    )
    all_rule = Rule.model_validate(
        {"name": "b", "match": {"states_all": wanted}, "channels": [{"email": "a@b.cd"}]}
    )
    assert matches(any_rule, record) == bool(states & set(wanted))
    assert matches(all_rule, record) == (states >= set(wanted))


@PROFILE
@given(rule_set=rule_sets(), record=records())
def test_each_destination_gets_one_delivery_and_repeated_rules_add_none(
    rule_set: list[Rule], record: dict[str, Any]
) -> None:
    plan = plan_deliveries(rule_set, record, set(), "created")
    keys = [p.key for p in plan]
    assert len(keys) == len(set(keys))
    matched = {r.name for r, _ in rules_to_alert(rule_set, record, set(), "created")}
    assert set(keys) == {channel_key(c) for r in rule_set if r.name in matched for c in r.channels}
    assert all(p.kind == "new" for p in plan)
    assert plan_deliveries(rule_set + rule_set, record, set(), "created") == plan


@PROFILE
@given(rule_set=rule_sets(), record=records())
def test_once_alerted_a_meeting_only_sends_updates_to_rules_that_ask_for_them(
    rule_set: list[Rule], record: dict[str, Any]
) -> None:
    alerted = {r.name for r, _ in rules_to_alert(rule_set, record, set(), "created")}
    # a redelivered "created" (the same version again) sends nothing
    assert plan_deliveries(rule_set, record, alerted, "created") == []
    for planned in plan_deliveries(rule_set, record, alerted, "updated"):
        assert planned.kind == "update"
        assert all(next(r for r in rule_set if r.name == n).notify_updates for n in planned.rules)

"""Alert rules: loading (with file:line errors) and the pure match / should-alert decisions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.alerts.rules import (
    LEVEL_THRESHOLDS,
    ROLE_RANK,
    AppriseChannel,
    EmailChannel,
    Rule,
    RulesError,
    WebhookChannel,
    channel_key,
    decide,
    find_channel,
    load_rules,
    matches,
    meeting_rank,
    parse_rules,
    plan_deliveries,
    rules_to_alert,
    should_alert,
    validate_rules_file,
)
from services.core.domain import ROLES

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET2 = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="


def record(**over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "id": "m-1",
        "status": "held",
        "date": "2026-11-27",
        "mode": "in_person",
        "location": {"city": "Astana", "country": "KAZ"},
        "participants": [
            {"name": "Murat Nurtleu", "role": "foreign_minister", "country": "KAZ", "org": None},
            {"name": "Wang Yi", "role": "foreign_minister", "country": "CHN", "org": None},
        ],
        "level": "minister",
        "topics": ["trade", "transport"],
        "sources": [
            {
                "url": "https://mfa.example/kz/1",
                "title": "Foreign Ministers of Kazakhstan and China held talks",
                "evidence": "Murat Nurtleu held talks with Wang Yi on the Middle Corridor.",
            }
        ],
    }
    rec.update(over)
    return rec


def rule(match: dict[str, Any] | None = None, **over: Any) -> Rule:
    data: dict[str, Any] = {"name": "r", "match": match or {}, "channels": [{"email": "desk@example.org"}]}
    data.update(over)
    return Rule.model_validate(data)


def with_roles(*roles: str) -> dict[str, Any]:
    return record(
        participants=[{"role": r, "country": c} for r, c in zip(roles, ["KAZ", "CHN", "RUS"], strict=False)]
    )


# --- level ----------------------------------------------------------------------------------------


def test_every_schema_role_has_a_rank() -> None:
    assert set(ROLE_RANK) == set(ROLES)


@pytest.mark.parametrize(
    ("role", "highest_level_met"),
    [
        ("head_of_state", "head_of_state"),
        ("deputy_head_of_state", "head_of_government"),
        ("head_of_government", "head_of_government"),
        ("org_head", "head_of_government"),
        ("deputy_head_of_government", "foreign_minister"),
        ("foreign_minister", "foreign_minister"),
        ("minister", "deputy_foreign_minister"),
        ("deputy_foreign_minister", "deputy_foreign_minister"),
        ("ambassador", "ambassador"),
        ("envoy", "ambassador"),
        ("legislator", "any"),
        ("official", "any"),
    ],
)
def test_level_at_least_uses_roles(role: str, highest_level_met: str) -> None:
    rec = with_roles(role, "official")
    for level, threshold in LEVEL_THRESHOLDS.items():
        expected = threshold <= LEVEL_THRESHOLDS[highest_level_met]
        assert matches(rule({"level_at_least": level}), rec) is expected, (role, level)


def test_level_is_that_of_the_most_senior_participant() -> None:
    rec = with_roles("ambassador", "head_of_state")
    assert matches(rule({"level_at_least": "head_of_state"}), rec)
    assert meeting_rank(rec) == ROLE_RANK["head_of_state"]


def test_record_without_known_roles_only_matches_any() -> None:
    rec = record(participants=[{"role": "mystery"}])
    assert meeting_rank(rec) == -1
    assert matches(rule({"level_at_least": "any"}), rec)
    assert not matches(rule({"level_at_least": "ambassador"}), rec)


@given(st.lists(st.sampled_from(ROLES), min_size=1, max_size=4), st.sampled_from(list(LEVEL_THRESHOLDS)))
def test_adding_a_participant_never_unmatches_a_level(roles: list[str], level: str) -> None:
    base = record(participants=[{"role": r} for r in roles])
    more = record(participants=[{"role": r} for r in [*roles, "head_of_state"]])
    if matches(rule({"level_at_least": level}), base):
        assert matches(rule({"level_at_least": level}), more)


# --- other fields ---------------------------------------------------------------------------------


def test_empty_match_matches_any_held_meeting() -> None:
    assert matches(rule(), record())


def test_states_any() -> None:
    assert matches(rule({"states_any": ["chn", "USA"]}), record())
    assert not matches(rule({"states_any": ["USA", "FRA"]}), record())


def test_states_are_the_participants_not_the_location() -> None:
    rec = record(
        participants=[{"role": "foreign_minister", "country": "RUS"}, {"role": "envoy", "country": "USA"}]
    )
    assert not matches(rule({"states_any": ["KAZ"]}), rec)  # the meeting took place in Astana


def test_states_all() -> None:
    assert matches(rule({"states_all": ["KAZ", "CHN"]}), record())
    assert not matches(rule({"states_all": ["KAZ", "RUS"]}), record())


def test_orgs_any_is_case_insensitive() -> None:
    rec = record(
        participants=[{"role": "org_head", "org": "SCO"}, {"role": "foreign_minister", "country": "KAZ"}]
    )
    assert matches(rule({"orgs_any": ["sco"]}), rec)
    assert not matches(rule({"orgs_any": ["UN"]}), rec)
    assert not matches(rule({"orgs_any": ["SCO"]}), record())


def test_modes() -> None:
    assert matches(rule({"modes": ["in_person", "video"]}), record())
    assert not matches(rule({"modes": ["phone"]}), record())
    assert matches(rule({"modes": ["phone"]}), record(mode="phone"))


def test_status_default_is_held_and_planned_never_matches_it() -> None:
    planned = record(status="planned")
    assert not matches(rule(), planned)
    assert matches(rule({"status": "planned"}), planned)
    assert not matches(rule({"status": "planned"}), record())


def test_topics_any() -> None:
    assert matches(rule({"topics_any": ["energy", "trade"]}), record())
    assert not matches(rule({"topics_any": ["energy"]}), record())
    assert not matches(rule({"topics_any": ["energy"]}), record(topics=[]))


@pytest.mark.parametrize(
    ("keyword", "hit"),
    [("middle corridor", True), ("KAZAKHSTAN AND CHINA", True), ("Caspian", False), ("会见", True)],
)
def test_keywords_any_in_title_or_evidence(keyword: str, hit: bool) -> None:
    rec = record()
    rec["sources"].append(
        {"url": "https://fmprc.example/2", "title": "王毅会见哈萨克斯坦外长", "evidence": None}
    )
    assert matches(rule({"keywords_any": [keyword]}), rec) is hit


def test_keywords_need_sources() -> None:
    assert not matches(rule({"keywords_any": ["talks"]}), record(sources=[]))


def test_conditions_combine_with_and() -> None:
    r = rule({"states_any": ["CHN"], "modes": ["phone"]})
    assert not matches(r, record())
    assert matches(r, record(mode="phone"))


def test_matching_does_not_mutate_the_record() -> None:
    rec = record()
    before = copy.deepcopy(rec)
    matches(rule({"states_all": ["KAZ"], "keywords_any": ["x"], "orgs_any": ["UN"]}), rec)
    assert rec == before


# --- should_alert ---------------------------------------------------------------------------------


def test_first_report_alerts_once() -> None:
    r = rule()
    assert decide(r, record(), already_alerted=False, change="created") == "new"
    assert not should_alert(r, record(), already_alerted=True, change="created")  # redelivered task


def test_updates_alert_only_with_notify_updates() -> None:
    assert not should_alert(rule(), record(), already_alerted=True, change="updated")
    assert decide(rule(notify_updates=True), record(), already_alerted=True, change="updated") == "update"


def test_first_match_on_an_update_is_a_new_alert() -> None:
    r = rule({"level_at_least": "foreign_minister"})
    assert not should_alert(
        r, with_roles("ambassador", "ambassador"), already_alerted=False, change="created"
    )
    assert decide(r, record(), already_alerted=False, change="updated") == "new"


def test_planned_meetings_never_alert_as_held() -> None:
    r = rule(notify_updates=True)
    for already in (False, True):
        for change in ("created", "updated"):
            assert not should_alert(r, record(status="planned"), already_alerted=already, change=change)
    # and once it is reported as held, the held rule alerts for the first time
    assert decide(r, record(), already_alerted=False, change="updated") == "new"


def test_non_matching_record_never_alerts() -> None:
    r = rule({"states_any": ["USA"]}, notify_updates=True)
    assert not should_alert(r, record(), already_alerted=False, change="created")
    assert not should_alert(r, record(), already_alerted=True, change="updated")


def test_rules_to_alert() -> None:
    a = rule(name="a")
    b = rule({"modes": ["phone"]}, name="b")
    c = rule(name="c", notify_updates=True)
    assert [(r.name, k) for r, k in rules_to_alert([a, b, c], record(), set(), "created")] == [
        ("a", "new"),
        ("c", "new"),
    ]
    assert [(r.name, k) for r, k in rules_to_alert([a, b, c], record(), {"a", "c"}, "updated")] == [
        ("c", "update")
    ]


# --- loading --------------------------------------------------------------------------------------

GOOD = f"""\
rules:
  - name: central-asia
    match:
      level_at_least: foreign_minister
      states_any: [kaz, UZB]
      orgs_any: [SCO]
      modes: [in_person, video]
      status: held
      topics_any: [trade]
      keywords_any: [corridor]
    channels:
      - webhook: https://hooks.example.org/communique
        secret: {SECRET}
      - webhook: http://127.0.0.1:9000/in
        secret: [{SECRET}, {SECRET2}]
      - email: desk@example.org
      - apprise: tgram://bottoken/ChatID
    notify_updates: true
  - name: everything
    channels: [{{email: all@example.org}}]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "rules.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_load_rules(tmp_path: Path) -> None:
    rules = load_rules(write(tmp_path, GOOD))
    assert [r.name for r in rules] == ["central-asia", "everything"]
    r = rules[0]
    assert r.match.states_any == ["KAZ", "UZB"]
    assert r.notify_updates is True
    assert isinstance(r.channels[0], WebhookChannel)
    assert r.channels[0].secrets == [SECRET]
    assert isinstance(r.channels[1], WebhookChannel)
    assert r.channels[1].secrets == [SECRET, SECRET2]
    assert isinstance(r.channels[2], EmailChannel)
    assert isinstance(r.channels[3], AppriseChannel)
    assert rules[1].match.level_at_least == "any"
    assert rules[1].match.status == "held"
    assert rules[1].notify_updates is False
    assert validate_rules_file(write(tmp_path, GOOD)) == []


def test_a_bare_list_is_accepted() -> None:
    rules = parse_rules("- name: a\n  channels:\n    - email: a@example.org\n")
    assert rules[0].name == "a"


HEAD = "rules:\n  - name: a\n"
MATCH = HEAD + "    match:\n      "  # the condition is on line 4
EMAIL = "\n    channels: [{email: a@b.org}]\n"
CHANNEL = HEAD + "    channels:\n      - "  # the channel is on line 4


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (MATCH + "level_at_least: minister" + EMAIL, 4, "level_at_least"),
        (MATCH + "states_any: [KAZ, Kazakhstan]" + EMAIL, 4, "ISO 3166-1 alpha-3"),
        (MATCH + "topics_any: [trades]" + EMAIL, 4, "unknown topic"),
        (MATCH + "modes: [telepathy]" + EMAIL, 4, "modes"),
        (MATCH + "status: maybe" + EMAIL, 4, "status"),
        (MATCH + "colour: red" + EMAIL, 4, "colour"),
        (CHANNEL + "webhook: https://x.org/h\n        secret: hunter2\n", 5, "whsec_"),
        (CHANNEL + "webhook: https://x.org/h\n        secret: whsec_!!!\n", 5, "base64"),
        (CHANNEL + "webhook: https://x.org/h\n        secret: whsec_YWJj\n", 5, "24..64 bytes"),
        (CHANNEL + f"webhook: ftp://x.org/h\n        secret: {SECRET}\n", 4, "http"),
        (CHANNEL + "email: not-an-address\n", 4, "e-mail"),
        (CHANNEL + "apprise: nonsense\n", 4, "Apprise URL"),
        (CHANNEL + "sms: '+100'\n", 4, "one of 'webhook', 'email' or 'apprise'"),
        (HEAD + "    channels: []\n", 3, "at least 1"),
        (HEAD, 2, "channels"),
        (HEAD + EMAIL.lstrip("\n") + "  - name: a" + EMAIL, 4, "duplicate rule name"),
        (HEAD + "    name: b" + EMAIL, 3, "duplicate key"),
        ("rules:\n  - name: [a\n", 3, "YAML syntax"),
        ("", 1, "empty"),
        ("just a string\n", 1, "expected a list"),
    ],
)
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    path = write(tmp_path, text)
    errors = validate_rules_file(path)
    assert errors, text
    assert any(e.startswith(f"{path}:{line}:") and fragment in e for e in errors), errors
    with pytest.raises(RulesError) as info:
        load_rules(path)
    assert info.value.errors == errors


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    text = "rules:\n  - name: a\n    match: {states_any: [XX], modes: [fax]}\n    channels: [{email: nope}]\n"
    assert len(validate_rules_file(write(tmp_path, text))) == 3


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "absent.yaml")


def test_the_bundled_example_is_valid() -> None:
    example = Path(__file__).resolve().parents[3] / "services" / "alerts" / "rules.example.yaml"
    assert validate_rules_file(example) == []
    assert len(load_rules(example)) == 3


records = st.fixed_dictionaries(
    {
        "status": st.sampled_from(["held", "planned"]),
        "mode": st.sampled_from(["in_person", "phone", "video"]),
        "participants": st.lists(
            st.fixed_dictionaries(
                {"role": st.sampled_from(ROLES), "country": st.sampled_from(["KAZ", "CHN", "RUS", None])}
            ),
            min_size=1,
            max_size=3,
        ),
        "topics": st.lists(st.sampled_from(["trade", "energy", "security"]), max_size=2),
    }
)


@given(records, st.booleans(), st.sampled_from(["created", "updated"]))
def test_an_alerted_meeting_only_alerts_again_as_an_update(
    rec: dict[str, Any], notify: bool, change: str
) -> None:
    r = rule({"level_at_least": "ambassador"}, notify_updates=notify)
    kind = decide(r, rec, already_alerted=True, change=change)  # type: ignore[arg-type]
    assert kind in (None, "update")
    if kind == "update":
        assert notify
        assert change == "updated"
        assert rec["status"] == "held"


def test_plan_deliveries_sends_each_destination_once() -> None:
    hook = {"webhook": "https://h.example/in", "secret": SECRET}
    a = rule(name="a", channels=[hook, {"email": "Desk@Example.org"}])
    b = rule(
        name="b",
        channels=[{**hook, "secret": SECRET2}, {"email": "desk@example.org"}, {"apprise": "ntfy://x"}],
    )
    c = rule({"modes": ["phone"]}, name="c", channels=[{"email": "other@example.org"}])
    plan = plan_deliveries([a, b, c], record(), {"a"}, "created")
    assert [(p.key, p.rules, p.kind) for p in plan] == [
        ("webhook:https://h.example/in", ("b",), "new"),
        ("email:desk@example.org", ("b",), "new"),
        ("apprise:ntfy://x", ("b",), "new"),
    ]
    plan = plan_deliveries([a, b, c], record(), set(), "created")
    assert [(p.key, p.rules) for p in plan][:2] == [
        ("webhook:https://h.example/in", ("a", "b")),
        ("email:desk@example.org", ("a", "b")),
    ]
    first = plan[0].channel
    assert isinstance(first, WebhookChannel)
    assert first.secrets == [SECRET]  # the first rule's settings


def test_plan_merges_new_and_update() -> None:
    a = rule(name="a", notify_updates=True)
    b = rule(name="b")
    plan = plan_deliveries([a, b], record(), {"a"}, "updated")
    assert [(p.rules, p.kind) for p in plan] == [(("a", "b"), "new")]


def test_find_channel_reads_the_current_rules() -> None:
    old = rule(name="a", channels=[{"webhook": "https://h.example/in", "secret": SECRET}])
    rotated = rule(name="a", channels=[{"webhook": "https://h.example/in", "secret": [SECRET, SECRET2]}])
    key = channel_key(old.channels[0])
    found = find_channel([rotated], key, ["a"])
    assert isinstance(found, WebhookChannel)
    assert found.secrets == [SECRET, SECRET2]
    assert find_channel([rotated], "webhook:https://gone.example/", ["a"]) is None
    other = rule(name="z", channels=[{"webhook": "https://h.example/in", "secret": SECRET2}])
    preferred = find_channel([other, rotated], key, ["a"])
    assert isinstance(preferred, WebhookChannel)
    assert preferred.secrets == [SECRET, SECRET2]

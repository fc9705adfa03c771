"""Alert rules: which meeting records go to which channels.

A rules file (COMMUNIQUE_RULES or --rules) is YAML: a list of rules, or a mapping with a ``rules`` key::

    rules:
      - name: central-asia-top-level
        match:
          level_at_least: foreign_minister
          states_any: [KAZ, UZB, KGZ, TJK, TKM]
          modes: [in_person, video]
        channels:
          - webhook: https://example.org/hooks/communique
            secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
          - email: desk@example.org
          - apprise: tgram://bottoken/ChatID
        notify_updates: false

``load_rules`` reports every problem at once (``RulesError.errors``, each ``FILE:LINE: message``);
``validate_rules_file`` returns the same list without raising. ``matches`` and ``should_alert`` are pure
decisions over a schema-shaped meeting record (a ``dict``), with no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from services.core.yamllines import duplicate_keys, locate

__all__ = [
    "LEVEL_THRESHOLDS",
    "ROLE_RANK",
    "TOPICS",
    "AlertKind",
    "AppriseChannel",
    "Change",
    "Channel",
    "EmailChannel",
    "Match",
    "Rule",
    "RulesError",
    "PlannedDelivery",
    "WebhookChannel",
    "channel_key",
    "decide",
    "find_channel",
    "load_rules",
    "matches",
    "meeting_rank",
    "parse_rules",
    "plan_deliveries",
    "rules_to_alert",
    "should_alert",
    "validate_rules_file",
]

Level = Literal[
    "head_of_state", "head_of_government", "foreign_minister", "deputy_foreign_minister", "ambassador", "any"
]
Change = Literal["created", "updated"]
AlertKind = Literal["new", "update"]

# The threshold each ``level_at_least`` value stands for.
LEVEL_THRESHOLDS: dict[str, int] = {
    "head_of_state": 50,
    "head_of_government": 40,
    "foreign_minister": 30,
    "deputy_foreign_minister": 20,
    "ambassador": 10,
    "any": 0,
}

# Rank of each participant role (the schema's role enum). Where the roles between the named tiers sit:
# - deputy_head_of_state (vice-president) and org_head (UN Secretary-General, EU Commission president, ...)
#   rank with heads of government: protocol treats them so, and domain.level_of does the same.
# - deputy_head_of_government (deputy PM) ranks with the foreign minister: above a sectoral minister, and
#   often the same person.
# - minister (sectoral: trade, energy, ...) sits between foreign_minister and deputy_foreign_minister, so a
#   "foreign minister and up" rule does not fire on a trade minister's talks, while a deputy-level rule does.
# - envoy (special envoy / special representative) ranks with ambassadors.
# - legislator and official only satisfy ``any``.
ROLE_RANK: dict[str, int] = {
    "head_of_state": 50,
    "deputy_head_of_state": 40,
    "head_of_government": 40,
    "org_head": 40,
    "deputy_head_of_government": 30,
    "foreign_minister": 30,
    "minister": 25,
    "deputy_foreign_minister": 20,
    "ambassador": 10,
    "envoy": 10,
    "legislator": 5,
    "official": 0,
}

# The schema's controlled topic vocabulary; a rule naming anything else is a typo that would never match.
TOPICS: frozenset[str] = frozenset(
    "trade economy investment energy transport logistics security defence culture education health "
    "environment agriculture technology tourism migration humanitarian consular regional multilateral".split()
)

_ISO3 = re.compile(r"^[A-Z]{3}$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_SECRET_PREFIX = "whsec_"


class RulesError(ValueError):
    """The rules file is invalid; ``errors`` holds one ``FILE:LINE: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid alert rules:\n" + "\n".join(errors))
        self.errors = errors


def _iso3_list(v: list[str]) -> list[str]:
    out = []
    for code in v:
        up = code.strip().upper()
        if not _ISO3.match(up):
            raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-3 code (e.g. KAZ, CHN)")
        out.append(up)
    return out


class Match(BaseModel):
    """Conditions of a rule. Every condition given must hold (AND); inside a list, ``*_any`` is OR."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level_at_least: Level = "any"
    states_any: list[str] = Field(default_factory=list)
    states_all: list[str] = Field(default_factory=list)
    orgs_any: list[str] = Field(default_factory=list)
    modes: list[Literal["in_person", "phone", "video"]] = Field(default_factory=list)
    status: Literal["held", "planned"] = "held"
    topics_any: list[str] = Field(default_factory=list)
    keywords_any: list[str] = Field(default_factory=list)

    @field_validator("states_any", "states_all")
    @classmethod
    def _states(cls, v: list[str]) -> list[str]:
        return _iso3_list(v)

    @field_validator("orgs_any")
    @classmethod
    def _orgs(cls, v: list[str]) -> list[str]:
        if any(not o.strip() for o in v):
            raise ValueError("empty organisation name")
        return [o.strip() for o in v]

    @field_validator("topics_any")
    @classmethod
    def _topics(cls, v: list[str]) -> list[str]:
        unknown = [t for t in v if t not in TOPICS]
        if unknown:
            raise ValueError(f"unknown topic(s) {unknown}; known: {', '.join(sorted(TOPICS))}")
        return v

    @field_validator("keywords_any")
    @classmethod
    def _keywords(cls, v: list[str]) -> list[str]:
        if any(not k.strip() for k in v):
            raise ValueError("empty keyword")
        return [k.strip() for k in v]


def check_secret(secret: str) -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 24 to 64 random bytes."""
    if not secret.startswith(_SECRET_PREFIX):
        raise ValueError("a webhook secret starts with 'whsec_' followed by base64 (Standard Webhooks)")
    try:
        key = base64.b64decode(secret[len(_SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the part after 'whsec_' is not valid base64") from exc
    if not 24 <= len(key) <= 64:
        raise ValueError(f"a webhook secret must decode to 24..64 bytes, got {len(key)}")
    return secret


class WebhookChannel(BaseModel):
    """A signed HTTP POST (Standard Webhooks). Several secrets: every one signs, for key rotation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    webhook: str
    secret: str | list[str]

    @field_validator("webhook")
    @classmethod
    def _url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/\s]+", v):
            raise ValueError("a webhook is an http:// or https:// URL")
        return v

    @field_validator("secret")
    @classmethod
    def _secret(cls, v: str | list[str]) -> str | list[str]:
        secrets = [v] if isinstance(v, str) else v
        if not secrets:
            raise ValueError("at least one secret is needed")
        for s in secrets:
            check_secret(s)
        return v

    @property
    def secrets(self) -> list[str]:
        return [self.secret] if isinstance(self.secret, str) else list(self.secret)


class EmailChannel(BaseModel):
    """A plain-text e-mail over the configured SMTP server (``COMMUNIQUE_SMTP_*``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str

    @field_validator("email")
    @classmethod
    def _address(cls, v: str) -> str:
        if not _EMAIL.match(v.strip()):
            raise ValueError(f"{v!r} is not an e-mail address")
        return v.strip()


class AppriseChannel(BaseModel):
    """Any chat or push service Apprise knows, by its URL (``tgram://…``, ``slack://…``, ``mailto://…``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    apprise: str

    @field_validator("apprise")
    @classmethod
    def _url(cls, v: str) -> str:
        if "://" not in v:
            raise ValueError("an Apprise URL looks like 'scheme://...'")
        return v


Channel = WebhookChannel | EmailChannel | AppriseChannel


def _channel_kind(v: Any) -> str | None:
    if isinstance(v, Mapping):
        for key in ("webhook", "email", "apprise"):
            if key in v:
                return key
        return None
    if isinstance(v, BaseModel):
        return {WebhookChannel: "webhook", EmailChannel: "email", AppriseChannel: "apprise"}.get(type(v))
    return None


class Rule(BaseModel):
    """One alert rule: a name (unique), what it matches, where it sends, and whether updates alert again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    match: Match = Field(default_factory=Match)
    channels: list[
        Annotated[
            Annotated[WebhookChannel, Tag("webhook")]
            | Annotated[EmailChannel, Tag("email")]
            | Annotated[AppriseChannel, Tag("apprise")],
            Discriminator(
                _channel_kind,
                custom_error_type="channel_kind",
                custom_error_message="a channel needs one of 'webhook', 'email' or 'apprise'",
            ),
        ]
    ] = Field(min_length=1)
    notify_updates: bool = False


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


_ADAPTER: TypeAdapter[_RulesFile] = TypeAdapter(_RulesFile)


# --- loading with file:line errors ----------------------------------------------------------------------


def _parse(text: str, label: str) -> tuple[list[Rule], list[str]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return [], [f"{label}:{line}: YAML syntax error: {getattr(exc, 'problem', None) or exc}"]
    if root is None:
        return [], [f"{label}:1: empty rules file (expected a list of rules or a 'rules:' key)"]
    errors = [f"{label}:{line}: {msg}" for line, msg in duplicate_keys(root)]
    prefix: tuple[str, ...] = ()
    if isinstance(data, list):
        data = {"rules": data}
        prefix = ("rules",)
    if not isinstance(data, dict):
        return [], [f"{label}:1: expected a list of rules or a mapping with a 'rules' key"]
    try:
        parsed = _ADAPTER.validate_python(data)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = tuple(err["loc"])
            yaml_loc = loc[len(prefix) :] if prefix and loc[: len(prefix)] == prefix else loc
            where = ".".join(str(p) for p in (yaml_loc if prefix else loc))
            msg = str(err["msg"]).removeprefix("Value error, ")
            errors.append(f"{label}:{locate(root, yaml_loc)}: {where or 'file'}: {msg}")
        return [], errors
    seen: dict[str, int] = {}
    for i, rule in enumerate(parsed.rules):
        rule_loc: tuple[str | int, ...] = (i,) if prefix else ("rules", i)
        if rule.name in seen:
            errors.append(f"{label}:{locate(root, rule_loc)}: duplicate rule name {rule.name!r}")
        seen[rule.name] = i
    return ([] if errors else parsed.rules), errors


def parse_rules(text: str, label: str = "<rules>") -> list[Rule]:
    """Rules from YAML text; raises ``RulesError`` listing every problem as ``LABEL:LINE: message``."""
    rules, errors = _parse(text, label)
    if errors:
        raise RulesError(errors)
    return rules


def validate_rules_file(path: Path | str) -> list[str]:
    """Every problem in the rules file, one ``FILE:LINE: message`` each; an empty list means valid."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [f"{p}:0: cannot read: {exc}"]
    return _parse(text, str(p))[1]


def load_rules(path: Path | str) -> list[Rule]:
    """The rules in ``path`` (the caller resolves COMMUNIQUE_RULES / --rules); raises ``RulesError``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([f"{p}:0: cannot read: {exc}"]) from exc
    return parse_rules(text, str(p))


# --- pure decisions --------------------------------------------------------------------------------


def _participants(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in record.get("participants") or () if isinstance(p, Mapping)]


def meeting_rank(record: Mapping[str, Any]) -> int:
    """Rank of the highest-ranking participant (``ROLE_RANK``); -1 when the record names no known role.

    Heuristic: a meeting is as senior as its most senior participant (a president receiving an ambassador is a
    head-of-state meeting), the same rule as the schema's ``level``.
    """
    ranks = [
        ROLE_RANK[r] for p in _participants(record) if isinstance(r := p.get("role"), str) and r in ROLE_RANK
    ]
    return max(ranks, default=-1)


def _casefold_set(values: Sequence[Any]) -> set[str]:
    return {v.casefold() for v in values if isinstance(v, str)}


def _keyword_haystack(record: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for src in record.get("sources") or ():
        if isinstance(src, Mapping):
            parts.extend(v for k in ("title", "evidence") if isinstance(v := src.get(k), str))
    return "\n".join(parts).casefold()


def matches(rule: Rule, record: Mapping[str, Any]) -> bool:
    """Does the meeting record satisfy every condition of ``rule.match``?

    Heuristics, each condition only when given (an empty list means "no condition"):
    - status: the record's status equals the rule's (default ``held``), so a planned meeting never matches a
      rule for held meetings, and a rule for planned ones never fires on a held meeting.
    - level_at_least: the most senior participant's role reaches the threshold (``ROLE_RANK`` /
      ``LEVEL_THRESHOLDS``); ``any`` matches even a record without a known role.
    - states_any / states_all: over the countries the participants represent (not the meeting's location:
      talks in Geneva are not about Switzerland).
    - orgs_any: over the organisations the participants represent, compared case-insensitively.
    - modes: the record's mode is one of them.
    - topics_any: the record's topics share at least one.
    - keywords_any: a case-insensitive substring of a source's title or evidence sentence (substring rather
      than words, so that scripts without spaces such as Chinese work too).
    """
    m = rule.match
    if record.get("status", "held") != m.status:
        return False
    if m.level_at_least != "any" and meeting_rank(record) < LEVEL_THRESHOLDS[m.level_at_least]:
        return False
    parts = _participants(record)
    states = {c.upper() for p in parts if isinstance(c := p.get("country"), str)}
    if m.states_any and not states.intersection(m.states_any):
        return False
    if m.states_all and not states.issuperset(m.states_all):
        return False
    if m.orgs_any:
        orgs = _casefold_set([p.get("org") for p in parts])
        if not orgs.intersection(o.casefold() for o in m.orgs_any):
            return False
    if m.modes and record.get("mode") not in m.modes:
        return False
    if m.topics_any and not set(m.topics_any).intersection(record.get("topics") or ()):
        return False
    if m.keywords_any:
        hay = _keyword_haystack(record)
        if not any(k.casefold() in hay for k in m.keywords_any):
            return False
    return True


def decide(rule: Rule, record: Mapping[str, Any], already_alerted: bool, change: Change) -> AlertKind | None:
    """Which alert, if any, ``rule`` sends for this version of a meeting: ``"new"``, ``"update"`` or ``None``.

    Heuristic: an alert goes out once per rule and meeting, the first time the meeting matches — usually its
    first report (``created``), but also the update that first makes it match (a second source names the
    minister, or a planned visit is now reported as held); that one is ``"new"`` to the subscriber. After
    that, further updates alert (as ``"update"``) only for rules with ``notify_updates``; a repeat of
    ``created`` for an already alerted meeting (a redelivered task) sends nothing. A record that no longer
    matches sends nothing, so a planned meeting never alerts as held.
    """
    if not matches(rule, record):
        return None
    if not already_alerted:
        return "new"
    if change == "updated" and rule.notify_updates:
        return "update"
    return None


def should_alert(rule: Rule, record: Mapping[str, Any], already_alerted: bool, change: Change) -> bool:
    """True when ``decide`` sends an alert (see there for the heuristic)."""
    return decide(rule, record, already_alerted, change) is not None


def rules_to_alert(
    rules: Sequence[Rule], record: Mapping[str, Any], alerted: set[str] | frozenset[str], change: Change
) -> list[tuple[Rule, AlertKind]]:
    """The rules that alert for this record, with the kind of alert; ``alerted``: names already alerted."""
    out: list[tuple[Rule, AlertKind]] = []
    for rule in rules:
        kind = decide(rule, record, rule.name in alerted, change)
        if kind is not None:
            out.append((rule, kind))
    return out


def channel_key(channel: Channel) -> str:
    """Identity of a destination: ``webhook:URL``, ``email:address`` (case-folded) or ``apprise:URL``."""
    if isinstance(channel, WebhookChannel):
        return "webhook:" + channel.webhook
    if isinstance(channel, EmailChannel):
        return "email:" + channel.email.casefold()
    return "apprise:" + channel.apprise


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One destination to send one outbox row to, for the rules (by name) that chose it."""

    key: str
    channel: Channel
    rules: tuple[str, ...]
    kind: AlertKind


def plan_deliveries(
    rules: Sequence[Rule], record: Mapping[str, Any], alerted: set[str] | frozenset[str], change: Change
) -> list[PlannedDelivery]:
    """The destinations of one outbox row, one per ``channel_key``, in rule order.

    Heuristic: several matching rules that name the same destination send it one alert, not several (a
    receiver deduplicates on webhook-id, which is the outbox id, so a second one would be dropped anyway);
    the alert lists every rule and is ``"new"`` if it is new for any of them. The channel settings (webhook
    secrets) are those of the first rule naming the destination.
    """
    planned: dict[str, PlannedDelivery] = {}
    for rule, kind in rules_to_alert(rules, record, alerted, change):
        for channel in rule.channels:
            key = channel_key(channel)
            prev = planned.get(key)
            if prev is None:
                planned[key] = PlannedDelivery(key, channel, (rule.name,), kind)
            elif rule.name not in prev.rules:
                merged_kind: AlertKind = "new" if "new" in (prev.kind, kind) else "update"
                planned[key] = PlannedDelivery(key, prev.channel, (*prev.rules, rule.name), merged_kind)
    return list(planned.values())


def find_channel(rules: Sequence[Rule], key: str, rule_names: Sequence[str] = ()) -> Channel | None:
    """The channel for ``key`` in the current rules (preferring the named rules), or None if none has it.

    A retry re-reads the channel from the rules in force, so a rotated secret applies to pending retries and
    no secret needs to be stored with the delivery; None means the destination was removed: drop the row.
    """
    preferred = [r for r in rules if r.name in rule_names] + [r for r in rules if r.name not in rule_names]
    for rule in preferred:
        for channel in rule.channels:
            if channel_key(channel) == key:
                return channel
    return None

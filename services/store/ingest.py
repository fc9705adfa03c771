"""Storing a parsed document: merge its claims into meetings, keep every version, plan the alerts.

One transaction per document (the caller commits):

1. **Syndicated copy?** A document whose normalised text equals, or whose SimHash is within 3 bits of, an
   already stored document (``services.store.dedup``) is another URL of the same report: it joins the
   original's meetings as a source (rule ``syndicated_copy``) and changes nothing else — no new meeting, no
   alert, whatever its own (possibly differently dated) claims say. A near copy (not the same text) must not
   contradict the original's claims (``_claims_agree``): formulaic releases about two meetings (one
   minister's talks with two counterparts the same day) can differ in a few words only, within 3 bits.
2. **Each claim** goes to the meeting an operator pinned it to (rule ``pinned``), else to the meeting it is
   already linked to when that still fits (a re-store or a reparse), else where ``merge.decide`` says.
3. **Claims the document no longer makes** (after a reparse) are unlinked; the meeting is rebuilt from its
   remaining reports, and a meeting left without any is retracted (kept, with ``retracted_at`` and a change
   log entry), never deleted silently.
4. **Every change** bumps the meeting's version and appends a ``change_log`` entry (which document, which
   rule, what it added, the record after it). A new or materially changed meeting also gets an outbox row,
   and in the same transaction ``services.alerts.plan_deliveries`` turns it into delivery rows (one per
   destination) and marks the rules as alerted for the meeting, so an alert fires once per rule and meeting.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from services.alerts.rules import Rule, load_rules, plan_deliveries
from services.store import dedup, merge
from services.store.models import DocumentRow, MeetingRow, MeetingSourceRow
from services.store.uow import UnitOfWork

__all__ = [
    "StoreResult",
    "active_rules",
    "fingerprint_document",
    "retract_or_rebuild",
    "split_source",
    "store_document",
]

log = logging.getLogger(__name__)

_rules_cache: dict[str, tuple[tuple[int, int, int], list[Rule]]] = {}


def active_rules(path: Path | None) -> list[Rule]:
    """The alert rules of ``path`` (COMMUNIQUE_RULES / --rules), re-read when the file changes; none without a
    path. An invalid file raises ``RulesError`` (the CLI validates it at start)."""
    if path is None:
        return []
    key = str(path)
    st = os.stat(path)
    # Not the mtime alone: two writes within the file system's timestamp granularity would look unchanged;
    # an atomic replace (PUT /api/rules) always brings a new inode.
    stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
    cached = _rules_cache.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_rules(path))
        _rules_cache[key] = cached
    return cached[1]


def fingerprint_document(doc: DocumentRow, text: str) -> None:
    """Keep the syndicated-copy fingerprints of the document's article text on its row."""
    fp = dedup.fingerprint(text)
    doc.text_sha256 = fp.text_sha256
    doc.simhash = fp.simhash
    doc.sim_b0, doc.sim_b1, doc.sim_b2, doc.sim_b3 = fp.bands


@dataclass
class StoreResult:
    events: int = 0
    changes: int = 0
    copy_of: int | None = None
    meetings: list[str] = field(default_factory=list)


def _find_original(uow: UnitOfWork, doc: DocumentRow) -> int | None:
    if doc.simhash is None and doc.text_sha256 is None:
        return None
    bands = dedup.bands(doc.simhash) if doc.simhash is not None else (0, 0, 0, 0)
    for other_id, other_hash, other_sha in uow.merges.find_copy(doc.id, doc.text_sha256, doc.simhash, bands):
        if doc.text_sha256 and other_sha == doc.text_sha256:
            return other_id
        if (
            doc.simhash is not None
            and other_hash is not None
            and dedup.hamming(doc.simhash, other_hash) <= (dedup.MAX_BITS)
            and _claims_agree(doc.claims, uow.documents.get(other_id))
        ):
            return other_id
    return None


def _claims_agree(claims: Sequence[dict[str, Any]] | None, original: DocumentRow | None) -> bool:
    """Can a near copy with these claims be ``original`` under another URL?

    Only claims naming two parties or more count, so a copy whose extraction found less (a teaser) still
    joins. When both documents have such claims, they name the same parties; and when both were published
    within a day of each other, the same days too (within a day): a copy's date may differ from its
    original's only through a relative date ("yesterday") read against a later publication.
    """
    mine, theirs = _claim_days(claims), _claim_days(original.claims if original else None)
    if not mine or not theirs:
        return True
    if set(mine) != set(theirs):
        return False
    ours, its = _published(claims), _published(original.claims if original else None)
    if ours is None or its is None or abs((ours - its).days) > merge.MAX_DAY_GAP:
        return True
    return all(
        any(abs((a - b).days) <= merge.MAX_DAY_GAP for a in mine[key] for b in theirs[key])
        for key in mine
        if mine[key] and theirs[key]
    )


def _claim_days(records: Sequence[dict[str, Any]] | None) -> dict[str, set[date]]:
    days: dict[str, set[date]] = {}
    for record in records or []:
        facts = merge.facts_of(record, "")
        if len(facts.parties) >= 2:
            days.setdefault(facts.parties_key, set()).update([facts.date] if facts.date else [])
    return days


def _published(records: Sequence[dict[str, Any]] | None) -> date | None:
    for record in records or []:
        for source in record.get("sources") or []:
            value = source.get("published_at")
            if value:
                try:
                    return date.fromisoformat(str(value)[:10])
                except ValueError:
                    return None
    return None


def _evidence(record: dict[str, Any]) -> str | None:
    sources = record.get("sources") or [{}]
    return sources[0].get("evidence") if sources else None


def _added(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {k: after.get(k) for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)}


def _record_change(
    uow: UnitOfWork,
    meeting: MeetingRow,
    type_: str,
    document_id: int | None,
    rule: str | None,
    added: dict[str, Any],
    now: datetime,
    rules: Sequence[Rule],
    *,
    outbox: bool,
) -> int:
    """A new version of the meeting: change log entry, and for an alert-worthy change the outbox row with its
    planned deliveries (all in the caller's transaction). Returns the outbox rows written (0 or 1)."""
    meeting.version = (meeting.version or 0) + 1
    meeting.updated_at = now
    uow.session.flush()
    # The change log keeps the meeting's own record (its sources are the links, named by document_id); an
    # alert carries the full public record with every source.
    payload = {
        "version": meeting.version,
        "document_id": document_id,
        "rule": rule,
        "added": added,
        "record": {"id": meeting.id, **meeting.record},
    }
    uow.changes.add(meeting.id, type_, document_id, payload, now)
    if not outbox:
        return 0
    record = uow.meetings.public_record(meeting)
    outbox_id = uow.outbox.add(meeting.id, type_, record, now)
    change: Any = "created" if type_ == "meeting.created" else "updated"
    alerted = uow.deliveries.alerted_rules(meeting.id) if rules else set()
    planned = plan_deliveries(rules, record, alerted, change)
    for p in planned:
        uow.deliveries.add(outbox_id, p.key, p.kind, p.rules, now)
    uow.deliveries.mark_alerted(meeting.id, {r for p in planned for r in p.rules}, outbox_id, now)
    return 1


def _fits(meeting: MeetingRow, facts: merge.ClaimFacts) -> bool:
    """Does the claim still belong to the meeting it is linked to (same parties, date within a day, mode)?"""
    if meeting.retracted_at is not None or meeting.parties != facts.parties_key or meeting.mode != facts.mode:
        return False
    if meeting.date is None or facts.date is None:
        return meeting.date == facts.date
    return abs((meeting.date - facts.date).days) <= merge.MAX_DAY_GAP


def rebuild_record(links: Sequence[MeetingSourceRow]) -> dict[str, Any]:
    """A meeting's record folded again from its remaining reports, in the order they arrived."""
    record: dict[str, Any] = {}
    for link in links:
        record, _ = (
            merge.merge_record(record, link.record) if record else (merge.strip_sources(link.record), True)
        )
    return record


def retract_or_rebuild(
    uow: UnitOfWork,
    meeting_id: str,
    document_id: int | None,
    reason: str,
    now: datetime,
    rules: Sequence[Rule],
) -> int:
    """After a report left the meeting: rebuild its record from the others, or retract it when none is left
    (kept and marked, with a change log entry). Returns the outbox rows written."""
    meeting = uow.meetings.get(meeting_id, for_update=True)
    if meeting is None:
        return 0
    links = uow.merges.links_of_meeting(meeting_id)
    if not links:
        if meeting.retracted_at is None:
            meeting.retracted_at = now
            _record_change(
                uow, meeting, "meeting.retracted", document_id, reason, {}, now, rules, outbox=False
            )
        return 0
    before = meeting.record
    rebuilt = rebuild_record(links)
    meeting.record = rebuilt
    meeting.status = str(rebuilt.get("status") or meeting.status)
    meeting.level = str(rebuilt.get("level") or meeting.level)
    material = merge.materially_changed(before, rebuilt)
    return _record_change(
        uow,
        meeting,
        "meeting.updated" if material else "meeting.source_removed",
        document_id,
        reason,
        _added(before, rebuilt),
        now,
        rules,
        outbox=material,
    )


def _store_copy(
    uow: UnitOfWork,
    doc: DocumentRow,
    original: int,
    now: datetime,
    rules: Sequence[Rule],
    result: StoreResult,
) -> bool:
    """Attach a syndicated copy to its original's meetings; False when the original has none (yet)."""
    links = uow.merges.links_of_document(original)
    if not links:
        return False
    own = list(doc.claims or [])
    doc.copy_of = original
    for link in links:
        if link.claim_index < len(own):
            record = own[link.claim_index]
        else:
            # The copy's own extraction found nothing (a shorter teaser, say): it still reports what the
            # original reports, under its own URL.
            record = dict(link.record)
            record["sources"] = [{**(record.get("sources") or [{}])[0], "url": doc.url}]
        meeting = uow.meetings.get(link.meeting_id, for_update=True)
        if meeting is None:
            continue
        if uow.merges.link(
            link.meeting_id, doc.id, link.claim_index, _evidence(record), record, "syndicated_copy", now
        )[0]:
            _record_change(
                uow,
                meeting,
                "meeting.source_added",
                doc.id,
                "syndicated_copy",
                {"copy_of": original},
                now,
                rules,
                outbox=False,
            )
            result.changes += 1
        result.meetings.append(link.meeting_id)
    result.copy_of = original
    return True


def store_document(
    uow: UnitOfWork, document_id: int, now: datetime, rules: Sequence[Rule] = ()
) -> StoreResult:
    """Merge the document's claims into meetings (see the module docstring). Idempotent: storing the same
    claims again changes nothing and writes no event."""
    result = StoreResult()
    doc = uow.documents.get(document_id)
    if doc is None or doc.status != "fetched" or doc.parse_status != "ok":
        return result
    previous = uow.merges.links_of_document(document_id)
    if not previous or all(link.merge_rule == "syndicated_copy" for link in previous):
        original = _find_original(uow, doc)
        if original is not None and _store_copy(uow, doc, original, now, rules, result):
            doc.stored_at = now
            doc.delivery_count = 0
            uow.session.flush()
            return result
    kept: set[int] = set()
    # In one order (sorted), so two documents never wait for each other's locks.
    for parties_key in sorted({merge.facts_of(r, "").parties_key for r in doc.claims or []}):
        uow.merges.lock_parties(parties_key)
    for index, record in enumerate(doc.claims or []):
        facts = merge.facts_of(record, fallback_key=f"{document_id}:{index}")
        current = next((link for link in previous if link.claim_index == index and link.id not in kept), None)
        meeting_id: str | None = None
        rule = ""
        created = False
        if current is not None:
            linked = uow.meetings.get(current.meeting_id)
            if linked is not None and (current.pinned or _fits(linked, facts)):
                meeting_id, rule = linked.id, current.merge_rule
        if meeting_id is None:
            candidates = (
                uow.merges.candidates(facts.parties_key, facts.date) if facts.date is not None else []
            )
            decision = merge.decide(facts, candidates)
            meeting_id, rule = decision.meeting_id, decision.rule
            if meeting_id is None:
                meeting_id = merge.meeting_id_for(decision.identity_key)
                keyed = dataclasses.replace(facts, identity_key=decision.identity_key)
                created = uow.merges.insert_meeting(meeting_id, keyed, merge.strip_sources(record), now)
                if not created:
                    existing = uow.meetings.get_by_key(decision.identity_key)
                    assert existing is not None
                    meeting_id, rule = existing.id, "same_key"
                    if existing.retracted_at is not None:
                        existing.retracted_at = None
                        created = True
        # Locked: the other side's report of the same meeting may be merging in a concurrent transaction.
        meeting = uow.meetings.get(meeting_id, for_update=True)
        assert meeting is not None
        before = meeting.record
        # A report that now says something else (a reparse) cannot just fill gaps: what it said before may
        # be in the record, so the record is folded again from every report.
        revised = (
            current is not None
            and current.meeting_id == meeting_id
            and merge.strip_sources(current.record) != merge.strip_sources(record)
        )
        new_link, link_id = uow.merges.link(
            meeting_id,
            document_id,
            index,
            _evidence(record),
            record,
            rule,
            now,
            pinned=bool(current is not None and current.pinned and current.meeting_id == meeting_id),
        )
        kept.add(link_id)
        if revised:
            merged = rebuild_record(uow.merges.links_of_meeting(meeting_id))
            material = merge.materially_changed(before, merged)
        else:
            merged, material = merge.merge_record(before, record)
        if merged != before:
            meeting.record = merged
            meeting.status = str(merged.get("status") or meeting.status)
            meeting.level = str(merged.get("level") or meeting.level)
        if created or material:
            result.events += _record_change(
                uow,
                meeting,
                "meeting.created" if created else "meeting.updated",
                document_id,
                rule,
                _added({} if created else before, merged),
                now,
                rules,
                outbox=True,
            )
            result.changes += 1
        elif new_link or merged != before:
            _record_change(
                uow,
                meeting,
                "meeting.source_added" if new_link else "meeting.revised",
                document_id,
                rule,
                _added(before, merged),
                now,
                rules,
                outbox=False,
            )
            result.changes += 1
        result.meetings.append(meeting_id)
    # Claims this document no longer makes (a reparse): unlink, then rebuild or retract their meetings.
    for link in previous:
        if link.id in kept:
            continue
        uow.merges.unlink(link.id)
        uow.session.flush()
        result.events += retract_or_rebuild(uow, link.meeting_id, document_id, "claim_withdrawn", now, rules)
        result.changes += 1
    doc.stored_at = now
    doc.delivery_count = 0
    uow.session.flush()
    return result


def split_source(
    uow: UnitOfWork, meeting_id: str, document_id: int, now: datetime, rules: Sequence[Rule] = ()
) -> str | None:
    """Undo a wrong merge: move the document's report out of the meeting into a meeting of its own, pinned
    (never a merge candidate, and the report stays there on re-store and reparse). Returns the new meeting's
    id; None when the document is not a source of the meeting."""
    links = [link for link in uow.merges.links_of_meeting(meeting_id) if link.document_id == document_id]
    if not links:
        return None
    link = links[0]
    facts = merge.facts_of(link.record, fallback_key=f"{document_id}:{link.claim_index}")
    key = f"split:{meeting_id}:{document_id}:{link.claim_index}"
    facts = dataclasses.replace(facts, identity_key=key)
    new_id = merge.meeting_id_for(key)
    uow.merges.insert_meeting(new_id, facts, merge.strip_sources(link.record), now, pinned=True)
    uow.merges.unlink(link.id)
    uow.session.flush()
    uow.merges.link(
        new_id, document_id, link.claim_index, link.evidence, link.record, "split", now, pinned=True
    )
    uow.session.flush()
    new = uow.meetings.get(new_id, for_update=True)
    assert new is not None
    _record_change(
        uow, new, "meeting.created", document_id, "split", {"split_from": meeting_id}, now, rules, outbox=True
    )
    old = uow.meetings.get(meeting_id, for_update=True)
    assert old is not None
    retract_or_rebuild(uow, meeting_id, document_id, "split", now, rules)
    uow.changes.add(
        meeting_id, "meeting.split", document_id, {"document_id": document_id, "new_meeting": new_id}, now
    )
    uow.session.flush()
    return new_id


def reparse_ids(uow: UnitOfWork, since: date | None) -> list[int]:
    """Documents to extract again (fetched on or after ``since``)."""
    from datetime import UTC, time

    start = datetime.combine(since, time(0, 0), tzinfo=UTC) if since else None
    return uow.merges.stored_document_ids(start)

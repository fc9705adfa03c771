"""The pipeline's service layer: one function per stage, called by the thin tasks with a unit of work.

    dispatch_due     due sources -> fetcher.poll_source, once per (source, slot); documents whose next
                     stage never ran (a message lost in a broker restart) -> that stage again
    poll_source      conditional GET of the feed or listing -> pending documents (one per canonical URL)
    fetch_document   guarded GET -> body, headers, sha256 -> parser.parse_document
    parse_document   article + meeting claims (as records) on the document row -> store.store_claims
    store_claims     merge/upsert meetings, link the report, outbox row: one transaction

Every function is idempotent: it checks the row's state first and does nothing (or only re-sends the next
stage) when its work is already done. The functions flush; the caller commits. I/O seams (the HTTP client,
the poller, the extractor) are parameters, so unit tests drive them with fakes.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol, cast

from services.core.domain import FetchedDoc
from services.fetcher import schedule
from services.fetcher.canonical import canonical_url
from services.fetcher.feeds import FeedError
from services.fetcher.http import DeadlineExceeded, FetchError, HTTPStatusError
from services.fetcher.listing import ListingEmpty
from services.fetcher.sources import SourceDef
from services.parser.errors import ParseError
from services.store.models import DocumentRow, SourceRow
from services.store.uow import UnitOfWork

__all__ = [
    "Extract",
    "Http",
    "Poll",
    "add_items",
    "default_extract",
    "default_poll",
    "dispatch_due",
    "fetch_document",
    "is_transient_fetch_error",
    "mark_source_broken",
    "parse_document",
    "poll_source",
    "store_claims",
]

log = logging.getLogger(__name__)
_rng = random.Random()


class Http(Protocol):
    """What the stages need of ``services.fetcher.http.GuardedClient``."""

    def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> FetchedDoc: ...


class Item(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def guid(self) -> str | None: ...
    @property
    def title(self) -> str | None: ...
    @property
    def published(self) -> Any: ...


class PollOutcome(Protocol):
    @property
    def not_modified(self) -> bool: ...
    @property
    def items(self) -> Sequence[Item]: ...
    @property
    def etag(self) -> str | None: ...
    @property
    def last_modified(self) -> str | None: ...


Poll = Callable[[SourceDef, Any, "str | None", "str | None"], PollOutcome]
"""``services.fetcher.poll.poll_source``: (source, client, etag, last_modified) -> result."""

Extract = Callable[[bytes, SourceDef | None, DocumentRow], list[dict[str, Any]]]
"""A fetched document -> schema-shaped meeting records; raises ``ParseError`` for bad input only."""


def default_poll(source: SourceDef, client: Any, etag: str | None, last_modified: str | None) -> PollOutcome:
    """The fetcher's poller (feed or listing page, conditional GET)."""
    from services.fetcher.poll import poll_source as poll

    return poll(source, client, etag, last_modified)


def default_extract(body: bytes, source: SourceDef | None, doc: DocumentRow) -> list[dict[str, Any]]:
    """The parser: the article (the source's selectors first, hints from the feed), then its meeting
    claims."""
    from services.parser.article import extract_article
    from services.parser.extract import extract_meetings, record_for

    article = extract_article(
        body,
        url=doc.final_url or doc.url,
        selectors=source.article if source else None,
        title=doc.title_hint,
        published=doc.published_hint.date() if doc.published_hint else None,
        language=source.language if source else None,
        publisher=(source.publisher or source.name) if source else None,
        source_country=source.country if source else None,
    )
    # Syndicated copies are recognised by the article text (services.store.dedup), kept on the row.
    from services.store.ingest import fingerprint_document

    fingerprint_document(doc, article.text)
    return [record_for(claim, article) for claim in extract_meetings(article)]


def is_transient_fetch_error(exc: BaseException) -> bool:
    """Worth retrying soon: overloaded or rate-limiting servers and timeouts; not blocks, caps or 4xx."""
    if isinstance(exc, HTTPStatusError):
        return exc.status >= 500 or exc.status in (408, 425, 429)
    if isinstance(exc, DeadlineExceeded):
        return True
    # A bare FetchError is a network or protocol failure (connection refused, reset): transient.
    return type(exc) is FetchError


def _definition(row: SourceRow) -> SourceDef:
    return SourceDef.model_validate(row.definition)


@dataclass(frozen=True, slots=True)
class DispatchResult:
    polls: int
    resent: int


def dispatch_due(
    uow: UnitOfWork, now: datetime, *, stale_after: timedelta, force: bool = False
) -> DispatchResult:
    """Send a poll for every due source (every enabled one with ``force``), once per (source, slot).

    The slot is the due time the dispatcher saw: a second beat, or a re-sent dispatch, sees the same due time
    and collides on the (source, slot) key; the first one has already moved ``next_check_at`` on. Documents
    whose next stage has not run for ``stale_after`` get it sent again.
    """
    if not uow.sources.try_dispatch_lock():
        return DispatchResult(0, 0)
    rows = (
        [r for r in uow.sources.all() if r.enabled and r.state != "disabled"]
        if force
        else uow.sources.due(now)
    )
    polls = 0
    for row in rows:
        due = row.next_check_at or now
        slot = int(now.timestamp()) if force else int(due.timestamp())
        if not uow.sources.claim_slot(row.id, slot, now):
            continue
        row.next_check_at = schedule.next_check_at(
            now,
            _definition(row),
            rate_per_week=row.rate_per_week,
            consecutive_errors=max(row.consecutive_errors, row.consecutive_empty),
            rng=_rng,
        )
        uow.defer("fetcher.poll_source", row.id)
        polls += 1
    stalled = uow.documents.stalled(now - stale_after)
    for doc_id, stage in stalled:
        uow.defer(_STAGE_TASK[stage], doc_id)
    uow.documents.touch([d for d, _ in stalled], now)
    uow.session.flush()
    return DispatchResult(polls, len(stalled))


_STAGE_TASK = {
    "fetch": "fetcher.fetch_document",
    "parse": "parser.parse_document",
    "store": "store.store_claims",
}


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if value is not None and hasattr(value, "isoformat"):  # a date
        return datetime.combine(value, time(0, 0), tzinfo=UTC)
    return None


def _record_poll_failure(row: SourceRow, source: SourceDef, exc: Exception, now: datetime) -> None:
    """Error, counters, state and a backed-off next check on the source row
    (``services.fetcher.schedule``)."""
    from services.fetcher.polite import HostHeld

    if isinstance(exc, HostHeld):
        # Nothing was sent: the host is on hold or busy. Not a failure of the source; come back then.
        row.next_check_at = max(exc.until, now + timedelta(seconds=1))
        return
    status = exc.status if isinstance(exc, HTTPStatusError) else None
    retry_after = exc.retry_after if isinstance(exc, HTTPStatusError) else None
    row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    kind = schedule.classify_error(status, retry_after)
    if kind == "hold" and retry_after is not None:
        # The server asked for a pause: not a failure of the source.
        row.next_check_at = schedule.host_hold_until(now, retry_after)
        return
    if isinstance(exc, ListingEmpty):
        row.consecutive_empty += 1
    else:
        row.consecutive_errors += 1
    row.state = schedule.source_state(
        enabled=row.enabled,
        gone=kind == "gone",
        consecutive_errors=row.consecutive_errors,
        consecutive_empty=row.consecutive_empty,
    )
    row.next_check_at = schedule.next_check_at(
        now, source, consecutive_errors=max(row.consecutive_errors, row.consecutive_empty), rng=_rng
    )


def _for_source(client: Http, source: SourceDef) -> Http:
    """The client with the source's own host spacing, when it is a ``PoliteClient`` (fakes pass through)."""
    for_source = getattr(client, "for_source", None)
    return cast(Http, for_source(source.host_spacing)) if callable(for_source) else client


def _health_events(uow: UnitOfWork, row: SourceRow, before: str, now: datetime) -> None:
    """Tell the operator when a source turns broken (and when it recovers): an outbox row for the alert relay
    (types ``source.broken`` / ``source.recovered``, delivered to ``settings.operator_webhook``) and a log
    line. Only on the transition, so a source broken for a week is one notification."""
    if row.state == before or "broken" not in (row.state, before):
        return
    kind = "source.broken" if row.state == "broken" else "source.recovered"
    payload = {
        "source_id": row.id,
        "state": row.state,
        "previous_state": before,
        "last_error": row.last_error,
        "consecutive_errors": row.consecutive_errors,
        "consecutive_empty": row.consecutive_empty,
        "last_success_at": row.last_success_at.isoformat() if row.last_success_at else None,
        "url": (row.definition or {}).get("url"),
        "at": now.isoformat(),
    }
    uow.outbox.add(_source_aggregate(row.id), kind, payload, now)
    if kind == "source.broken":
        log.error("source %s is broken: %s", row.id, row.last_error)
    else:
        log.warning("source %s recovered", row.id)


def _source_aggregate(source_id: str) -> str:
    # outbox.aggregate_id holds 40 characters; source ids may be longer.
    key = f"source:{source_id}"
    return key if len(key) <= 40 else "source:" + hashlib.sha1(source_id.encode()).hexdigest()[:33]


def _observed_rate(uow: UnitOfWork, source_id: str, items: Sequence[Item], now: datetime) -> float | None:
    """Items per week: from the items' own dates when the feed or listing gives them, else from when this
    source's documents were first seen (listings without dates)."""
    dated = [d for d in (_as_datetime(i.published) for i in items) if d is not None]
    if dated:
        return schedule.items_per_week(dated, now)
    return schedule.items_per_week(uow.documents.first_seen(source_id, now - timedelta(days=28)), now)


def poll_source(
    uow: UnitOfWork,
    source_id: str,
    client: Http,
    poll: Poll,
    now: datetime,
    *,
    unconditional_after_s: float = 86400.0,
    websub_poll_interval_s: float = 6 * 3600.0,
    websub_public_url: str | None = None,
) -> int:
    """Poll one source with its stored validators; new item URLs become pending documents.

    A failed poll is recorded on the source (error, counter, state, a backed-off ``next_check_at``), never
    raised: the schedule is the retry. Every ``unconditional_after_s`` the poll goes without validators (a
    server whose ETag never changes is still read). The next check comes from the source's observed rate,
    never sooner than the server's hints; a source with a live WebSub subscription is polled at most every
    ``websub_poll_interval_s`` (a safety net). Returns the number of documents sent to fetch.
    """
    from services.core import metrics

    row = uow.sources.get(source_id)
    if row is None or not row.enabled:
        return 0
    source = _definition(row)
    before = row.state
    row.last_polled_at = now
    row.polls = (row.polls or 0) + 1
    etag, last_modified = row.etag, row.last_modified
    unconditional = (
        row.last_unconditional_at is None
        or (now - row.last_unconditional_at).total_seconds() >= unconditional_after_s
    )
    if unconditional:
        etag = last_modified = None
    try:
        result = poll(source, _for_source(client, source), etag, last_modified)
    except (FetchError, FeedError, ParseError) as exc:
        _record_poll_failure(row, source, exc, now)
        from services.fetcher.polite import HostHeld

        metrics.observe_poll(source_id, "held" if isinstance(exc, HostHeld) else "error")
        log.warning("poll %s failed (%d in a row): %s", source_id, row.consecutive_errors, exc)
        _health_events(uow, row, before, now)
        uow.session.flush()
        return 0
    if unconditional:
        row.last_unconditional_at = now
    row.consecutive_errors = 0
    row.consecutive_empty = 0
    row.state = schedule.source_state(enabled=row.enabled)
    row.last_error = None
    row.last_success_at = now
    row.etag = result.etag or row.etag
    row.last_modified = result.last_modified or row.last_modified
    hints = getattr(result, "hints", None)
    if hints is not None and hints.ttl_s is not None:
        row.ttl_s = hints.ttl_s
    elif hints is not None and row.ttl_s is not None and result.not_modified:
        # A 304 does not repeat the feed's <ttl>: keep honouring the last one seen.
        hints = schedule.ServerHints(
            ttl_s=row.ttl_s,
            max_age_s=hints.max_age_s,
            expires_in_s=hints.expires_in_s,
            retry_after_s=hints.retry_after_s,
        )
    if not result.not_modified:
        row.rate_per_week = _observed_rate(uow, source_id, result.items, now)
    hub = getattr(result, "hub", None)
    if hub and row.websub_hub != hub:
        row.websub_hub = hub
        row.websub_topic = getattr(result, "final_url", None) or source.url
    row.next_check_at = schedule.next_check_at(now, source, rate_per_week=row.rate_per_week, hints=hints)
    if row.websub_lease_until is not None and row.websub_lease_until > now:
        row.next_check_at = max(row.next_check_at, now + timedelta(seconds=websub_poll_interval_s))
    if websub_public_url:
        from services.fetcher.websub import needs_subscription

        if needs_subscription(row.websub_hub, row.websub_lease_until, now):
            uow.defer("fetcher.websub_subscribe", source_id)
    _health_events(uow, row, before, now)
    if result.not_modified:
        metrics.observe_poll(source_id, "not_modified")
        uow.session.flush()
        return 0
    new, sent = add_items(uow, source_id, result.items, now)
    metrics.observe_poll(source_id, "ok", items=len(result.items), new=new)
    return sent


def add_items(uow: UnitOfWork, source_id: str, items: Sequence[Item], now: datetime) -> tuple[int, int]:
    """Items of a feed or listing page -> pending documents, sent to fetch. Identity: the canonical URL, and
    the feed GUID within the source (a known GUID under a new URL is a moved item, not a new one). Returns
    (new documents, documents sent to fetch: the new ones and any still pending whose message was lost)."""
    known_guids = uow.documents.known_guids(source_id, [i.guid for i in items if i.guid])
    canonical: list[str] = []
    new = 0
    for item in items:
        url = canonical_url(item.url)
        if item.guid and item.guid in known_guids and not uow.documents.has_url(url):
            continue
        canonical.append(url)
        added = uow.documents.add_pending(
            source_id=source_id,
            url=item.url,
            canonical_url=url,
            guid=item.guid,
            title=item.title,
            published=_as_datetime(item.published),
            now=now,
        )
        new += added is not None
    pending = uow.documents.pending_ids(canonical)
    for doc_id in pending:
        uow.defer("fetcher.fetch_document", doc_id)
    uow.session.flush()
    return new, len(pending)


def fetch_document(uow: UnitOfWork, document_id: int, client: Http, now: datetime) -> bool:
    """Fetch a pending document and store the raw response. Transient errors raise (the task retries them);
    permanent ones mark the document ``failed`` with the error. Returns True when a body was stored."""
    doc = uow.documents.get(document_id)
    if doc is None or doc.status == "dead":
        return False
    if doc.status != "pending":
        if doc.status == "fetched" and doc.parse_status == "pending":
            uow.defer("parser.parse_document", document_id)
        return False
    from services.fetcher.polite import HostHeld

    source_row = uow.sources.get(doc.source_id) if doc.source_id else None
    if source_row is not None:
        client = _for_source(client, _definition(source_row))
    try:
        fetched = client.get(doc.url)
    except FetchError as exc:
        held = isinstance(exc, HostHeld) or (
            isinstance(exc, HTTPStatusError)
            and schedule.classify_error(exc.status, exc.retry_after) == "hold"
        )
        if held:
            # The host asked for a pause (or is busy): stays pending, with the reason visible; the stalled
            # sweep of ``dispatch_due`` sends it again later. Not a failure, not a retry storm.
            doc.fetch_error = f"{type(exc).__name__}: {exc}"[:2000]
            doc.delivery_count = 0
            uow.session.flush()
            return False
        if is_transient_fetch_error(exc):
            raise
        doc.status = "failed"
        doc.fetch_error = f"{type(exc).__name__}: {exc}"[:2000]
        doc.delivery_count = 0
        uow.session.flush()
        return False
    twin = uow.documents.same_content(doc.source_id, fetched.sha256, document_id)
    if twin is not None:
        # The same bytes under another URL of this source: a moved item, not a new one.
        doc.status = "failed"
        doc.http_status = fetched.status
        doc.final_url = fetched.final_url
        doc.sha256 = fetched.sha256
        doc.fetched_at = fetched.fetched_at
        doc.fetch_error = f"duplicate: same content as document {twin}"
        doc.delivery_count = 0
        uow.session.flush()
        return False
    doc.status = "fetched"
    doc.http_status = fetched.status
    doc.final_url = fetched.final_url
    doc.headers = dict(fetched.headers)
    doc.body = fetched.body
    doc.sha256 = fetched.sha256
    doc.fetched_at = fetched.fetched_at
    doc.fetch_error = None
    doc.delivery_count = 0
    uow.defer("parser.parse_document", document_id)
    uow.session.flush()
    return True


def parse_document(uow: UnitOfWork, document_id: int, extract: Extract, now: datetime) -> int:
    """Extract meeting claims from a fetched document and keep them (as records) on its row.

    A ``ParseError`` is recorded on the document (``parse_status = error``); other exceptions are bugs and
    raise. Returns the number of claims.
    """
    doc = uow.documents.get(document_id)
    if doc is None or doc.status != "fetched":
        return 0
    if doc.parse_status != "pending":
        if doc.parse_status == "ok" and doc.stored_at is None:
            uow.defer("store.store_claims", document_id)
        return 0
    source_row = uow.sources.get(doc.source_id) if doc.source_id else None
    source = _definition(source_row) if source_row is not None else None
    try:
        records = extract(doc.body or b"", source, doc)
    except ParseError as exc:
        doc.parse_status = "error"
        doc.parse_error = str(exc)[:2000] or type(exc).__name__
        doc.delivery_count = 0
        uow.session.flush()
        return 0
    doc.claims = records
    doc.parse_status = "ok"
    doc.parse_error = None
    doc.delivery_count = 0
    uow.defer("store.store_claims", document_id)
    uow.session.flush()
    return len(records)


def store_claims(uow: UnitOfWork, document_id: int, now: datetime, rules: Sequence[Any] = ()) -> int:
    """Merge every claim of the document into the meetings, link the report, write outbox rows (and their
    alert deliveries under ``rules``): ``services.store.ingest.store_document``.

    A new meeting gets a ``meeting.created`` event; a meeting that changed materially (see
    ``merge.merge_record``) gets ``meeting.updated``; a claim that only adds a source writes no event.
    Re-running leaves the same rows. Returns the number of outbox rows written.
    """
    from services.store.ingest import store_document

    return store_document(uow, document_id, now, rules).events


def mark_source_broken(uow: UnitOfWork, source_id: str, error: str, now: datetime) -> None:
    """A source whose poll task keeps dying (``max_deliveries``) is broken: state and error on the row, and
    the same ``source.broken`` outbox row a poll writes (the one path of operator notices), once per
    breakage."""
    row = uow.sources.get(source_id)
    if row is None:
        return
    before = row.state
    row.state = "broken"
    row.last_error = error[:2000]
    _health_events(uow, row, before, now)
    uow.session.flush()

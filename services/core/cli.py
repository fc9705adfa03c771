"""The ``communique`` command line (see docs/architecture.md, "Command-line contract").

Bad input (a missing file, an invalid source registry, an unknown source id, a bad date) ends with a one-line
message and exit status 2 (usage) or 1 (the check failed), never a traceback.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TextIO

import click

from services.core.settings import Settings, get_settings

__all__ = ["cli", "main"]

CSV_FIELDS = (
    "id",
    "date",
    "status",
    "mode",
    "level",
    "parties",
    "participants",
    "city",
    "location_country",
    "sidelines_of",
    "topics",
    "source_count",
    "source_urls",
    "version",
    "retracted",
    "change_id",
)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.UsageError(f"invalid COMMUNIQUE_* setting: {exc}") from exc


def _with_rules(settings: Settings, rules_file: Path | None) -> Settings:
    """``settings`` with the rules file of ``--rules`` (else COMMUNIQUE_RULES), checked before any work."""
    from services.alerts.rules import validate_rules_file

    path = rules_file or settings.rules
    if path is None:
        return settings
    errors = validate_rules_file(path)
    if errors:
        raise click.UsageError("invalid alert rules:\n  " + "\n  ".join(errors))
    return settings.model_copy(update={"rules": path})


def _load_sources(path: Path | None) -> list[Any]:
    from services.fetcher.sources import SourcesError, load_sources

    try:
        return load_sources(path)
    except SourcesError as exc:
        raise click.UsageError("invalid source registry:\n  " + "\n  ".join(exc.args[0])) from exc
    except OSError as exc:
        raise click.UsageError(f"cannot read the source registry: {exc}") from exc


@contextmanager
def _output(path: str) -> Iterator[TextIO]:
    if path == "-":
        yield sys.stdout
        return
    try:
        fh = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise click.UsageError(f"cannot write {path}: {exc}") from exc
    with fh:
        yield fh


def _database_ready(settings: Settings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from services.core import pipeline

    try:
        pipeline.init_db(settings)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"database {settings.database_url.split('@')[-1]}: {exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Communiqué: diplomatic meetings from the official news of foreign ministries."""
    from services.core.task_base import TaskContextFilter

    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(task)s %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(TaskContextFilter())


@cli.command()
@click.option("--once", is_flag=True, help="Run one full cycle (poll, fetch, parse, store) and exit.")
@click.option(
    "--sources",
    "sources_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Source registry (YAML); default: COMMUNIQUE_SOURCES or the bundled one.",
)
@click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Alert rules (YAML); default: COMMUNIQUE_RULES.",
)
def run(once: bool, sources_file: Path | None, rules_file: Path | None) -> None:
    """Poll the due sources, fetch, parse and store their meetings (embedded, or on Celery workers)."""
    from services.core import pipeline

    settings = _with_rules(_settings(), rules_file)
    sources = _load_sources(sources_file or settings.sources)
    _database_ready(settings)
    if once:
        counts = pipeline.run_once(settings, sources)
        click.echo(json.dumps(counts, default=str), err=True)
        return
    try:
        pipeline.run_forever(settings, sources)
    except KeyboardInterrupt:
        click.echo("stopped", err=True)


@cli.command()
@click.option("-i", "--input", "input_", default="-", help="JSON Lines input (default: stdin).")
@click.option("-o", "--output", default="-", help="JSON Lines output (default: stdout).")
@click.option(
    "--explain", is_flag=True, help="Add an 'explain' object (cue, title, registry entry) per meeting."
)
def extract(input_: str, output: str, explain: bool) -> None:
    """Offline extraction: one article per input line, one line of meeting records per article."""
    from services.parser.extract_cli import run_extract

    try:
        inp = sys.stdin if input_ == "-" else open(input_, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise click.UsageError(f"cannot read {input_}: {exc}") from exc
    with inp, _output(output) as out:
        errors = run_extract(inp, out, explain=explain)
    if errors:
        click.echo(f"{errors} input line(s) had errors (see their 'error' field)", err=True)


@cli.group()
def sources() -> None:
    """Inspect, validate and dry-run source definitions."""


@sources.command("list")
@click.option("--file", "file_", type=click.Path(dir_okay=False, path_type=Path), default=None)
def sources_list(file_: Path | None) -> None:
    """List the sources of the registry."""
    for s in _load_sources(file_ or _settings().sources):
        flag = "" if s.enabled else "  (disabled)"
        click.echo(f"{s.id:32} {s.kind:9} {s.country} {s.language:5} {s.url}{flag}")


@sources.command("validate")
@click.argument("file_", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
def sources_validate(file_: Path) -> None:
    """Check a registry file; prints FILE:LINE: message per problem, exit 1 if any."""
    from services.fetcher.sources import validate_sources_file

    if not file_.is_file():
        raise click.UsageError(f"no such file: {file_}")
    errors = validate_sources_file(file_)
    for line in errors:
        click.echo(line)
    if errors:
        sys.exit(1)
    click.echo(f"{file_}: ok", err=True)


@sources.command("test")
@click.argument("source_id", metavar="ID")
@click.option(
    "--file",
    "page",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="A saved page (feed, listing or article): run the source's definition on it instead of fetching.",
)
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--limit", default=10, show_default=True, help="Items to show.")
def sources_test(source_id: str, page: Path | None, sources_file: Path | None, limit: int) -> None:
    """Dry run of one source: poll its feed or listing and show the items (nothing is stored)."""
    settings = _settings()
    found = [s for s in _load_sources(sources_file or settings.sources) if s.id == source_id]
    if not found:
        raise click.UsageError(f"unknown source id {source_id!r} (see `communique sources list`)")
    source = found[0]
    if page is not None:
        if not _test_saved_listing(source, page, limit):
            _test_page(source, page)
        return
    from services.fetcher.feeds import FeedError
    from services.fetcher.http import FetchError, GuardedClient
    from services.fetcher.polite import PoliteClient
    from services.fetcher.poll import poll_source

    # robots.txt and Retry-After apply to a dry run too (in-process state: nothing is stored).
    client = PoliteClient(GuardedClient(settings), settings)
    try:
        result = poll_source(source, client.for_source(source.host_spacing))
    except (FetchError, FeedError) as exc:
        raise click.ClickException(f"{source.url}: {type(exc).__name__}: {exc}") from exc
    finally:
        client.close()
    click.echo(f"{source.url}: HTTP {result.status}, {len(result.items)} item(s)")
    for item in result.items[:limit]:
        when = item.published.isoformat() if item.published else "-"
        click.echo(f"  {when:25} {item.url}\n  {'':25} {item.title or ''}")


def _test_page(source: Any, page: Path) -> None:
    from services.parser.article import extract_article
    from services.parser.errors import ParseError
    from services.parser.extract import extract_meetings, record_for

    try:
        article = extract_article(
            page.read_bytes(),
            url=page.resolve().as_uri(),
            selectors=source.article,
            language=source.language,
            publisher=source.publisher or source.name,
            source_country=source.country,
        )
        records = [record_for(c, article, explain=True) for c in extract_meetings(article)]
    except ParseError as exc:
        raise click.ClickException(f"{page}: {exc}") from exc
    click.echo(f"title: {article.title!r}  published: {article.published}  language: {article.language}")
    click.echo(f"{len(records)} meeting(s)")
    for rec in records:
        click.echo(json.dumps(rec, ensure_ascii=False, default=str))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["ndjson", "csv"]), default="ndjson", show_default=True)
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="Only meetings changed (change log) on or after this day or UTC time.",
)
@click.option(
    "--after-id", type=click.IntRange(min=0), default=0, help="Change log cursor: only changes after it."
)
@click.option(
    "--held-since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only meetings held on or after this day (YYYY-MM-DD).",
)
@click.option("-o", "--output", default="-", help="Output file (default: stdout).")
def export(
    fmt: str, since: datetime | None, after_id: int, held_since: datetime | None, output: str
) -> None:
    """Meeting records for downstream loading, read through the change log: NDJSON (the full schema with
    ``id``, ``sources``, ``version``, ``retracted`` and ``change_id``; upsert by ``id``) or CSV (one flat row
    per meeting; see docs/exports.md)."""
    from datetime import UTC

    from services.core.db import session_factory
    from services.store.export import iter_changed
    from services.store.uow import UnitOfWork

    settings = _settings()
    _database_ready(settings)
    n = 0
    with UnitOfWork(session_factory(settings.database_url)) as uow, _output(output) as out:
        records = iter_changed(uow, since=since.replace(tzinfo=UTC) if since else None, after_id=after_id)
        writer = None
        if fmt == "csv":
            writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
        for rec in records:
            if held_since is not None and (rec.get("date") or "") < held_since.date().isoformat():
                continue
            if writer is None:
                out.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
            else:
                writer.writerow(_csv_row(rec))
            n += 1
    click.echo(f"{n} meeting(s) exported", err=True)


def _who(p: dict[str, Any]) -> str:
    side = p.get("country") or p.get("org") or "?"
    return f"{p.get('name') or p.get('title') or ''} ({side}, {p.get('role')})"


def _csv_row(rec: dict[str, Any]) -> dict[str, Any]:
    people = rec.get("participants") or []
    loc = rec.get("location") or {}
    sources = rec.get("sources") or []
    parties = sorted({p.get("country") or p.get("org") for p in people if p.get("country") or p.get("org")})
    return {
        "id": rec.get("id"),
        "date": rec.get("date"),
        "status": rec.get("status"),
        "mode": rec.get("mode"),
        "level": rec.get("level"),
        "parties": ";".join(parties),
        "participants": ";".join(_who(p) for p in people),
        "city": loc.get("city"),
        "location_country": loc.get("country"),
        "sidelines_of": rec.get("sidelines_of"),
        "topics": ";".join(rec.get("topics") or []),
        "source_count": len(sources),
        "source_urls": " ".join(s.get("url") or "" for s in sources),
        "version": rec.get("version"),
        "retracted": rec.get("retracted"),
        "change_id": rec.get("change_id"),
    }


@cli.command()
def demo() -> None:
    """Serve bundled sample sources locally, run the pipeline against them, print the meetings."""
    from services.core.demo import run_demo

    sys.exit(run_demo())


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    settings = _settings()
    _database_ready(settings)
    click.echo("database schema up to date", err=True)


def _exec_celery(args: list[str]) -> NoReturn:
    settings = _settings()
    if not settings.distributed:
        raise click.UsageError(
            "COMMUNIQUE_BROKER_URL is not set: workers need a broker (embedded: `communique run`)"
        )
    argv = [sys.executable, "-m", "celery", "-A", "services.core.celery_app", *args]
    os.execv(sys.executable, argv)


@cli.command()
@click.option("-Q", "--queues", default="fetch,parse,store,notify", show_default=True)
@click.option("-c", "--concurrency", type=int, default=None)
@click.option("--pool", type=click.Choice(["prefork", "threads", "solo"]), default=None)
def worker(queues: str, concurrency: int | None, pool: str | None) -> None:
    """Run a Celery worker for the given queues (distributed mode)."""
    args = ["worker", "-Q", queues, "--loglevel", "INFO"]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    if pool:
        args += ["--pool", pool]
    _exec_celery(args)


@cli.command()
def beat() -> None:
    """Run the scheduler (exactly one per deployment; dispatch is deduplicated anyway)."""
    _exec_celery(["beat", "--loglevel", "INFO"])


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``communique`` script."""
    try:
        cli.main(args=argv, prog_name="communique", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0


@cli.command()
@click.option("--host", default=None, help="Address to listen on (default: COMMUNIQUE_API_HOST, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Port (default: COMMUNIQUE_API_PORT)."
)
@click.option("--no-migrate", is_flag=True, help="Do not bring the schema up to date first.")
def serve(host: str | None, port: int | None, no_migrate: bool) -> None:
    """Serve the HTTP API, the Atom feeds, /healthz and /metrics (FastAPI on uvicorn)."""
    import uvicorn

    from services.api.app import create_app

    settings = _settings()
    if not no_migrate:
        _database_ready(settings)
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=settings.api_port if port is None else port,
        log_level="info",
        proxy_headers=False,
    )


@cli.command()
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only documents fetched on or after this day (YYYY-MM-DD).",
)
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
def reparse(since: datetime | None, rules_file: Path | None) -> None:
    """Extract the stored raw documents again and update their meetings in place (no duplicate alerts)."""
    from services.core.db import session_factory
    from services.core.stages import default_extract, parse_document
    from services.store.ingest import active_rules, reparse_ids, store_document
    from services.store.uow import UnitOfWork

    settings = _with_rules(_settings(), rules_file)
    _database_ready(settings)
    rules = active_rules(settings.rules)
    factory = session_factory(settings.database_url)
    with UnitOfWork(factory) as uow:
        ids = reparse_ids(uow, since.date() if since else None)
    totals = {"documents": 0, "errors": 0, "events": 0, "changes": 0}
    for doc_id in ids:
        now = datetime.now(UTC)
        with UnitOfWork(factory) as uow:
            doc = uow.documents.get(doc_id)
            if doc is None:
                continue
            doc.parse_status = "pending"
            parse_document(uow, doc_id, default_extract, now)
            if doc.parse_status != "ok":
                totals["errors"] += 1
            result = store_document(uow, doc_id, now, rules)
            uow.commit()
        totals["documents"] += 1
        totals["events"] += result.events
        totals["changes"] += result.changes
    click.echo(json.dumps(totals), err=True)


@cli.group()
def meetings() -> None:
    """Inspect and correct stored meetings."""


@meetings.command("split")
@click.argument("meeting_id")
@click.option("--source", "document_id", type=int, required=True, help="The document id to move out.")
def meetings_split(meeting_id: str, document_id: int) -> None:
    """Undo a wrong merge: move one report into a meeting of its own, pinned so that it does not re-merge."""
    from services.core.db import session_factory
    from services.store.ingest import active_rules, split_source
    from services.store.uow import UnitOfWork

    settings = _with_rules(_settings(), None)
    _database_ready(settings)
    with UnitOfWork(session_factory(settings.database_url)) as uow:
        new_id = split_source(uow, meeting_id, document_id, datetime.now(UTC), active_rules(settings.rules))
        if new_id is None:
            raise click.ClickException(f"document {document_id} is not a source of meeting {meeting_id}")
        uow.commit()
    click.echo(new_id)


def _test_saved_listing(source: Any, page: Path, limit: int) -> bool:
    """A saved feed or listing page: show its items (and the next page of a listing) as a poll would see
    them. False when the page is neither (an article page: the caller extracts it)."""
    from services.fetcher.feeds import FeedError, read_feed
    from services.fetcher.http import decode_text
    from services.fetcher.listing import ListingEmpty, ListingUnreadable, next_page_url, parse_listing

    body = page.read_bytes()
    base = source.url
    head = body[:2048].lstrip().lower()
    if source.kind in ("rss", "atom") and (head.startswith(b"<?xml") or b"<rss" in head or b"<feed" in head):
        try:
            items = read_feed(body, base).items
        except FeedError as exc:
            raise click.ClickException(f"{page}: {exc}") from exc
        following = None
    elif source.kind == "html_list" and source.list is not None:
        html = decode_text(body)
        try:
            items = parse_listing(html, base, source.list)
        except ListingUnreadable as exc:
            raise click.ClickException(f"{page}: {exc}") from exc
        except ListingEmpty as exc:
            if source.article is None or not source.article.body:
                raise click.ClickException(f"{page}: {exc}") from exc
            return False  # not a listing page: maybe one of the source's articles
        following = next_page_url(html, base, source.list)
    else:
        return False
    click.echo(f"{page}: {len(items)} item(s) with the {source.kind} definition of {source.id}")
    for item in items[:limit]:
        when = item.published.isoformat() if item.published else "-"
        click.echo(f"  {when:25} {item.url}\n  {'':25} {item.title or ''}")
    if following:
        click.echo(f"next page: {following}")
    return True


@cli.command()
@click.argument("source_id", metavar="SOURCE")
@click.option("--pages", type=click.IntRange(min=1), default=None, help="Walk at most this many pages.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Walk back until the items are older than this day (YYYY-MM-DD).",
)
@click.option("--restart", is_flag=True, help="Start again from the first page (else resume).")
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
def backfill(
    source_id: str, pages: int | None, since: datetime | None, restart: bool, sources_file: Path | None
) -> None:
    """Walk a listing's pages back in time, politely; the items become documents (resumable)."""
    from services.core import celery_app, pipeline
    from services.core.db import session_factory
    from services.core.task_base import LOCAL_QUEUE, close_clients, using_settings
    from services.fetcher.backfill import BackfillError, BackfillPage
    from services.fetcher.backfill import backfill as walk
    from services.fetcher.http import FetchError, GuardedClient
    from services.fetcher.polite import DbHosts, PoliteClient
    from services.store.uow import UnitOfWork

    if pages is not None and since is not None:
        raise click.UsageError("give --pages or --since, not both")
    settings = _settings()
    all_sources = _load_sources(sources_file or settings.sources)
    found = [s for s in all_sources if s.id == source_id]
    if not found:
        raise click.UsageError(f"unknown source id {source_id!r} (see `communique sources list`)")
    _database_ready(settings)
    pipeline.sync_sources(settings, all_sources)
    factory = session_factory(settings.database_url)
    if settings.distributed:
        app = celery_app.app_for(settings)

        def send(name: str, args: tuple[Any, ...]) -> None:
            app.send_task(name, args=list(args))

    else:
        send = LOCAL_QUEUE.send
    client = PoliteClient(GuardedClient(settings), settings, DbHosts(factory))
    last: BackfillPage | None = None
    try:
        steps = walk(
            lambda: UnitOfWork(factory, send=send),
            found[0],
            client,
            pages=pages,
            since=since.date() if since else None,
            restart=restart,
        )
        with click.progressbar(
            steps,
            length=pages,
            label=f"backfill {source_id}",
            file=sys.stderr,
            show_pos=True,
            item_show_func=lambda p: f"{p.new} new, back to {p.oldest or '?'}" if p else None,
        ) as bar:
            for done in bar:
                last = done
    except BackfillError as exc:
        raise click.UsageError(str(exc)) from exc
    except FetchError as exc:
        raise click.ClickException(
            f"stopped: {type(exc).__name__}: {exc} (run the same command again to resume)"
        ) from exc
    finally:
        client.close()
    if not settings.distributed:
        with using_settings(settings):
            celery_app.load_tasks()
            try:
                LOCAL_QUEUE.drain(lambda name: celery_app.app.tasks[name])
            finally:
                close_clients()
    cursor = last.cursor if last else {}
    click.echo(json.dumps({"source": source_id, **cursor}, default=str), err=True)


@cli.command()
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, path_type=Path), default=None)
def relay(rules_file: Path | None) -> None:
    """Run the alert relay once in this process: claim the due deliveries and make one attempt at each."""
    from services.alerts.delivery import webhook_client
    from services.core.db import session_factory
    from services.store.ingest import active_rules
    from services.store.relay import deliver_claimed, relay_due
    from services.store.uow import UnitOfWork

    settings = _with_rules(_settings(), rules_file)
    _database_ready(settings)
    rules = active_rules(settings.rules)
    factory = session_factory(settings.database_url)
    claimed: list[tuple[Any, ...]] = []
    with UnitOfWork(factory, send=lambda _name, args: claimed.append(args)) as uow:
        relay_due(uow, settings, datetime.now(UTC))
        uow.commit()
    outcomes: dict[str, int] = {}
    with webhook_client(settings) as client:
        for delivery_id, token in claimed:
            outcome = deliver_claimed(
                lambda: UnitOfWork(factory),
                delivery_id,
                token,
                settings=settings,
                rules=rules,
                client=client,
                now=lambda: datetime.now(UTC),
            )
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    click.echo(json.dumps(outcomes), err=True)


@cli.group()
def endpoints() -> None:
    """Alert destinations switched off by a 410 Gone: list them, re-enable one."""


@endpoints.command("list")
def endpoints_list() -> None:
    """One JSON line per endpoint: key, disabled, reason, updated_at and deliveries held back."""
    from services.core.db import session_factory
    from services.store.uow import UnitOfWork

    settings = _settings()
    _database_ready(settings)
    with UnitOfWork(session_factory(settings.database_url)) as uow:
        for row, held in uow.deliveries.endpoints():
            line = {
                "endpoint": row.channel_key,
                "disabled": row.disabled,
                "reason": row.reason,
                "updated_at": row.updated_at,
                "held_deliveries": held,
            }
            click.echo(json.dumps(line, default=str))


@endpoints.command("enable")
@click.argument("endpoint")
@click.option("--resend", is_flag=True, help="Also send again the alerts held back while it was disabled.")
def endpoints_enable(endpoint: str, resend: bool) -> None:
    """Re-enable ENDPOINT: a webhook URL, or a key as listed (webhook:URL, email:ADDRESS, apprise:URL)."""
    from services.core.db import session_factory
    from services.store.uow import UnitOfWork

    known = endpoint.split(":", 1)[0] in ("webhook", "email", "apprise", "operator")
    key = endpoint if known else "webhook:" + endpoint
    settings = _settings()
    _database_ready(settings)
    with UnitOfWork(session_factory(settings.database_url)) as uow:
        requeued = uow.deliveries.enable_endpoint(key, datetime.now(UTC), resend=resend)
        if requeued is None:
            raise click.ClickException(f"{key} is not a disabled endpoint (see `communique endpoints list`)")
        uow.commit()
    click.echo(json.dumps({"enabled": key, "requeued": requeued}), err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of text.")
@click.option(
    "--recent", type=click.IntRange(0, 1000), default=10, show_default=True, help="Dead letters to list."
)
def status(as_json: bool, recent: int) -> None:
    """Operator health summary: sources by state (the broken ones listed), dead letters (the most recent
    ones listed), and the backlog of documents and alert deliveries (same data as GET /api/status)."""
    from services.core.db import session_factory
    from services.store.status import as_json as summary_json
    from services.store.status import health_summary, render_text
    from services.store.uow import UnitOfWork

    settings = _settings()
    _database_ready(settings)
    with UnitOfWork(session_factory(settings.database_url)) as uow:
        summary = health_summary(uow, datetime.now(UTC), recent=recent)
    click.echo(summary_json(summary) if as_json else render_text(summary))

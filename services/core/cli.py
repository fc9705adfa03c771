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
from datetime import datetime
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
)


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.UsageError(f"invalid COMMUNIQUE_* setting: {exc}") from exc


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
def run(once: bool, sources_file: Path | None) -> None:
    """Poll the due sources, fetch, parse and store their meetings (embedded, or on Celery workers)."""
    from services.core import pipeline

    settings = _settings()
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
    help="A saved article page: extract it with the source's selectors instead of fetching.",
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
        _test_page(source, page)
        return
    from services.fetcher.feeds import FeedError
    from services.fetcher.http import FetchError, GuardedClient
    from services.fetcher.poll import poll_source

    client = GuardedClient(settings)
    try:
        result = poll_source(source, client)
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
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Only meetings held on or after this day (YYYY-MM-DD).",
)
@click.option("-o", "--output", default="-", help="Output file (default: stdout).")
def export(fmt: str, since: datetime | None, output: str) -> None:
    """Meeting records for downstream loading: NDJSON (the full schema) or CSV (one flat row per meeting)."""
    from services.core import pipeline

    settings = _settings()
    _database_ready(settings)
    records = pipeline.iter_meeting_records(settings, since=since.date() if since else None)
    n = 0
    with _output(output) as out:
        if fmt == "ndjson":
            for rec in records:
                out.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
                n += 1
        else:
            writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
            writer.writeheader()
            for rec in records:
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

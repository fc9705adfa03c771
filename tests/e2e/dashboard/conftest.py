"""Fixtures of the dashboard's browser tests.

* ``seeded``: this session's Postgres database emptied and filled by ``seed.seed_dashboard`` (per module).
* ``server``: ``communique serve`` as a real process on a free port, on that database, with the rules file.
* ``browser``: Debian's Chromium (``/usr/bin/chromium``, or ``COMMUNIQUE_CHROMIUM``) driven by Playwright; it
  is never downloaded. Unavailable: the tests fail under ``CI=true`` and skip elsewhere.
* ``page``: a fresh browser context per test (desktop size); console errors, page errors and failed requests
  fail the test, so a script broken by the Content-Security-Policy cannot pass unnoticed.
* ``shoot(page, name)``: a full-page screenshot to ``build/screenshots/<name>.png`` (asserted written).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import unavailable
from tests.e2e.dashboard.seed import Seeded, seed_dashboard
from tests.integration.harness import communique_cmd, free_port

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking", "--disable-gpu"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def _empty(url: str) -> None:
    from sqlalchemy import text

    from services.core.db import get_engine
    from services.store.models import Base

    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with get_engine(url).begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(scope="module")
def seeded(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    _empty(pg_url)
    data = seed_dashboard(pg_url, tmp_path_factory.mktemp("dashboard"))
    yield data
    _empty(pg_url)


@pytest.fixture(scope="module")
def server(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of ``communique serve`` on the seeded database."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMUNIQUE_")}
    env.update(
        COMMUNIQUE_DATABASE_URL=seeded.url,
        COMMUNIQUE_RULES=str(seeded.rules_path),
        COMMUNIQUE_API_RATE_PER_S="0",
        PYTHONPATH=str(ROOT),
    )
    cmd = communique_cmd()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*cmd, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"communique serve did not start: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]


def chromium_path() -> str:
    return os.environ.get("COMMUNIQUE_CHROMIUM") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable("the playwright package", exc)
        raise
    path = chromium_path()
    if not Path(path).exists():
        unavailable(f"Chromium ({path}; scripts/ensure-browser.sh installs it)", "no such file")
    manager = sync_playwright().start()
    try:
        try:
            chromium = manager.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        except Exception as exc:  # noqa: BLE001 - any launch failure means "no usable browser"
            unavailable(f"Chromium ({path})", exc)
            raise
        yield chromium
        chromium.close()
    finally:
        manager.stop()


class PageErrors:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def console(self, msg: Any) -> None:
        if msg.type == "error":
            self.messages.append(f"console: {msg.text}")

    def page_error(self, exc: Any) -> None:
        self.messages.append(f"page error: {exc}")

    def failed(self, request: Any) -> None:
        # A poll still in flight when the test navigates away is aborted: not an error of the page.
        if "ERR_ABORTED" not in str(request.failure):
            self.messages.append(f"request failed: {request.url} {request.failure}")


def open_page(browser: Any, viewport: dict[str, int]) -> tuple[Any, Any, PageErrors]:
    context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors = PageErrors()
    page.on("console", errors.console)
    page.on("pageerror", errors.page_error)
    page.on("requestfailed", errors.failed)
    return context, page, errors


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context, pg, errors = open_page(browser, DESKTOP)
    yield pg
    messages = list(errors.messages)
    context.close()
    assert not messages, messages


@pytest.fixture
def phone_page(browser: Any, server: str) -> Iterator[Any]:
    context, pg, errors = open_page(browser, PHONE)
    yield pg
    messages = list(errors.messages)
    context.close()
    assert not messages, messages


@pytest.fixture
def shoot() -> Callable[[Any, str], Path]:
    def take(page: Any, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        path.unlink(missing_ok=True)
        page.screenshot(path=str(path), full_page=True)
        assert path.is_file(), f"no screenshot written to {path}"
        assert path.stat().st_size > 1000, f"an empty screenshot in {path}"
        return path

    return take

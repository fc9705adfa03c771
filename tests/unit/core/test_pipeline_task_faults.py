"""The task policy when its infrastructure fails around the work (found by the chaos tests,
``tests/integration/chaos``): a database that is down when a task starts, a broker that is down when the
committed task sends its follow-up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import Retry
from kombu.exceptions import OperationalError as BrokerError

from services.core import celery_app
from services.core.db import dispose_engines, session_factory
from services.core.settings import Settings
from services.core.task_base import using_settings
from services.store.uow import UnitOfWork
from tests.unit.core.test_pipeline_task_policy import pending_document, task


@pytest.fixture(autouse=True)
def _tasks() -> Iterator[None]:
    celery_app.load_tasks()
    yield
    dispose_engines()


def test_a_database_down_when_the_task_starts_is_retried_not_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The delivery counter is the first statement: it must fail into the retry policy like the work would.
    down = Settings(database_url=f"sqlite:///{tmp_path}/no-such-dir/db.sqlite")
    parse = task("parser.parse_document")
    retries: list[dict[str, Any]] = []

    def retry(**kwargs: Any) -> Retry:
        retries.append(kwargs)
        return Retry("retry", exc=kwargs.get("exc"))

    monkeypatch.setattr(parse, "retry", retry)
    with using_settings(down):
        outcome = parse.apply(args=(1,))
    assert outcome.state == "RETRY"
    assert len(retries) == 1
    assert retries[0]["countdown"] > 0
    assert type(retries[0]["exc"]).__name__ == "OperationalError"


def test_a_broker_down_after_the_commit_loses_the_message_not_the_work(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc_id = pending_document(sqlite_url)
    with UnitOfWork(session_factory(sqlite_url)) as uow:
        doc = uow.documents.get(doc_id)
        assert doc is not None
        doc.status, doc.parse_status = "fetched", "ok"  # parsed; its store message is what gets sent
        uow.commit()

    class DeadBroker:
        sent: list[str] = []

        def send_task(self, name: str, args: list[Any]) -> None:
            self.sent.append(name)
            raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(celery_app, "app_for", lambda _settings: DeadBroker())
    settings = Settings(database_url=sqlite_url, broker_url="redis://127.0.0.1:6379/0")
    with using_settings(settings):
        assert task("parser.parse_document")(doc_id) == 0
    assert DeadBroker.sent == ["store.store_claims"]
    with UnitOfWork(session_factory(sqlite_url)) as uow:
        doc = uow.documents.get(doc_id)
        assert doc is not None
        assert (doc.status, doc.parse_status, doc.stored_at) == ("fetched", "ok", None)  # the sweep's to send
        assert uow.dead_letters.all() == []

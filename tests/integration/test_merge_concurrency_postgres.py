"""Two sides' reports of one meeting stored at the same moment on Postgres still merge (the merge of a party
pair is serialised by an advisory lock), whatever the interleaving."""

from __future__ import annotations

import threading

import pytest

from services.core.db import session_factory
from services.store.ingest import store_document
from services.store.uow import UnitOfWork
from tests.integration.test_store_merge_backends import NOW, add_doc, claim, live_meetings

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_reports_of_one_meeting_merge(pg_clean: str, round_: int) -> None:
    factory = session_factory(pg_clean)
    with UnitOfWork(factory) as uow:
        # Dated a day apart (time zones): different identity keys, so only the merge can join them.
        a = add_doc(uow, "https://kz.example/1", [claim(day="2026-11-20")])
        b = add_doc(uow, "https://cn.example/1", [claim(day="2026-11-21")])
        uow.commit()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(doc_id: int) -> None:
        try:
            with UnitOfWork(factory) as uow:
                barrier.wait()
                store_document(uow, doc_id, NOW, ())
                uow.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(d,)) for d in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    with UnitOfWork(factory) as uow:
        meetings = live_meetings(uow)
        assert len(meetings) == 1
        assert {link.document_id for link in uow.merges.links_of_meeting(meetings[0].id)} == {a, b}

"""Property (Hypothesis, through the real store code on SQLite): the order in which reports arrive does not
change which reports end up together, nor the unified participants of each meeting.

The generated reports are what ministries publish about a few meetings: for each meeting (a pair of states, a
day, a mode), any number of reports dated that day or the next (time zones, late publication), each naming
the participants or leaving a side unnamed. Meetings of the same pair are at least five days apart, as real
ones are; reports of one meeting are always compatible (a meeting has one delegation per side).
"""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.core.db import dispose_engines, session_factory
from services.store.ingest import store_document
from services.store.uow import UnitOfWork
from tests.integration.test_store_merge_backends import add_doc, claim, person

pytestmark = pytest.mark.integration

PAIRS = [("KAZ", "CHN"), ("KAZ", "UZB"), ("CHN", "RUS")]
BASE = date(2026, 11, 2)
NOW = datetime(2026, 11, 28, tzinfo=UTC)


@st.composite
def reports(draw: st.DrawFn) -> list[dict[str, Any]]:
    meetings = draw(
        st.lists(
            st.tuples(
                st.sampled_from(range(len(PAIRS))),
                st.sampled_from([0, 5, 10]),
                st.sampled_from(["in_person", "phone"]),
            ),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    out: list[dict[str, Any]] = []
    for pair_i, day, mode in meetings:
        a, b = PAIRS[pair_i]
        for _ in range(draw(st.integers(1, 3))):
            people = []
            for side in (a, b):
                named = draw(st.booleans())
                people.append(
                    person(
                        side,
                        f"{side}-{pair_i}-{day}" if named else None,
                        f"Minister {side}" if named else None,
                        draw(st.sampled_from([None, "FM", "Minister of Foreign Affairs"])),
                    )
                )
            offset = draw(st.sampled_from([0, 1]))
            out.append(
                {
                    "meeting": (pair_i, day, mode),
                    "claim": claim(
                        day=(BASE + timedelta(days=day + offset)).isoformat(), people=people, mode=mode
                    ),
                }
            )
    return out


def _outcome(template: Path, tmp: Path, items: list[dict[str, Any]], order: list[int]) -> tuple[Any, ...]:
    path = tmp / f"{uuid.uuid4().hex}.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    with UnitOfWork(session_factory(url)) as uow:
        ids = {}
        for i in order:
            ids[i] = add_doc(uow, f"https://mfa.example/{i}", [items[i]["claim"]])
            store_document(uow, ids[i], NOW, ())
            uow.commit()
        by_doc = {v: k for k, v in ids.items()}
        groups = []
        for meeting in uow.meetings.iter_records():
            links = uow.merges.links_of_meeting(meeting["id"])
            members = frozenset(by_doc[link.document_id] for link in links)
            people = frozenset(
                (p["country"], p.get("person_id"), p.get("name"), p.get("title"))
                for p in meeting["participants"]
            )
            groups.append((members, people, meeting["mode"]))
    dispose_engines()
    path.unlink()
    return tuple(sorted(groups, key=lambda g: sorted(g[0])))


@pytest.fixture(scope="session")
def sqlite_template(request: pytest.FixtureRequest) -> Path:
    """The session's migrated SQLite template (conftest), copied per example."""
    return Path(request.getfixturevalue("_sqlite_template"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=reports(), data=st.data())
def test_report_order_does_not_change_the_meetings(
    sqlite_template: Path, tmp_path: Path, items: list[dict[str, Any]], data: st.DataObject
) -> None:
    order = list(range(len(items)))
    shuffled = data.draw(st.permutations(order))
    first = _outcome(sqlite_template, tmp_path, items, order)
    second = _outcome(sqlite_template, tmp_path, items, list(shuffled))
    assert first == second
    # ... and the reports of one meeting are exactly one group.
    expected = sorted(
        sorted(i for i, it in enumerate(items) if it["meeting"] == m) for m in {it["meeting"] for it in items}
    )
    assert sorted(sorted(g[0]) for g in first) == expected

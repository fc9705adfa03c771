"""Property-based check of the published OpenAPI document with schemathesis: generated requests, valid
and invalid, to every operation never get a 5xx, and every response matches the documented schema and
media type. Read-only data (SQLite, seeded once); writes run without a token and must be refused.

(schemathesis' own pytest plugin does not run on pytest 9, so its strategies drive Hypothesis directly.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.generation import GenerationMode

from services.api.app import create_app
from services.core.settings import Settings

OPERATIONS = [
    ("GET", "/api/meetings"),
    ("GET", "/api/meetings/{meeting_id}"),
    ("GET", "/feeds/meetings.atom"),
    ("GET", "/api/sources"),
    ("GET", "/api/sources/{source_id}"),
    ("POST", "/api/sources/{source_id}/enable"),
    ("POST", "/api/sources/{source_id}/disable"),
    ("GET", "/api/people"),
    ("GET", "/api/rules"),
    ("PUT", "/api/rules"),
    ("GET", "/healthz"),
    ("GET", "/api/status"),
]
# Operations with constrained parameters also get invalid ones (an unconstrained path string has none).
NEGATIVE = {
    ("GET", "/api/meetings"),
    ("GET", "/feeds/meetings.atom"),
    ("GET", "/api/sources"),
    ("GET", "/api/people"),
    ("GET", "/api/status"),
}
CASES = [(m, p, GenerationMode.POSITIVE) for m, p in OPERATIONS] + [
    (m, p, GenerationMode.NEGATIVE) for m, p in OPERATIONS if (m, p) in NEGATIVE
]
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance, checks.content_type_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Any]:
    from services.core.db import dispose_engines
    from tests.integration.api.seed import REPORTS, filler, seed

    path = tmp_path_factory.mktemp("fuzz") / "api.db"
    shutil.copy(request.getfixturevalue("_sqlite_template"), path)
    url = f"sqlite:///{path}"
    seed(url, REPORTS + filler(5))
    app = create_app(Settings(database_url=url, api_token="fuzz-token", api_rate_per_s=0.0))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    dispose_engines()


def test_every_operation_is_covered(api_schema: Any) -> None:
    published = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert published - {("GET", "/metrics")} == set(OPERATIONS)


@pytest.mark.parametrize(("method", "path", "mode"), CASES, ids=[f"{m} {p} {g.value}" for m, p, g in CASES])
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
@given(data=st.data())
def test_generated_requests_never_fail_and_match_the_schema(
    api_schema: Any, method: str, path: str, mode: GenerationMode, data: st.DataObject
) -> None:
    operation = api_schema[path][method]
    case = data.draw(operation.as_strategy(generation_mode=mode))
    response = case.call_and_validate(checks=CHECKS)
    assert response.status_code < 500
    if method == "POST":
        assert response.status_code in (401, 422)

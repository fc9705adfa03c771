"""The dashboard's routes without a browser: every page answers with its security headers, and the live-update
endpoint returns exactly the changed meetings that match a page's filters (SQLite; Postgres and a real
browser are tests/e2e/dashboard)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.core.settings import Settings
from services.web.routes import CSP
from tests.e2e.dashboard.seed import add_report
from tests.integration.api.seed import NOW, REPORTS, Report, person, record, seed

NEW = Report(
    "uz-mfa",
    "https://mfa.uz.example/news/500",
    [
        record(
            "2025-05-01",
            [
                person("Rashid Meredov", "TKM", "foreign_minister"),
                person("Hakan Fidan", "TUR", "foreign_minister"),
            ],
            url="https://mfa.uz.example/news/500",
            evidence="Rashid Meredov and Hakan Fidan held talks <b>today</b>.",
        )
    ],
)


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    seed(sqlite_url, REPORTS)
    with TestClient(create_app(Settings(database_url=sqlite_url, api_rate_per_s=0.0))) as c:
        yield c


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?pair=KAZ,CHN&level=minister",
        "/network",
        "/network?pair=KAZ,CHN",
        "/person",
        "/person?name=Wang+Yi",
        "/sources",
        "/alerts",
    ],
)
def test_pages_answer_with_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in response.text  # never an inline script


def test_static_assets_are_served(client: TestClient) -> None:
    for path in ("/static/app.css", "/static/dashboard.js", "/static/charts.js", "/static/vendor/d3.min.js"):
        assert client.get(path).status_code == 200
    assert client.get("/static/../templates.py").status_code == 404


def test_changes_after_the_page_cursor(client: TestClient, sqlite_url: str) -> None:
    page = client.get("/?state=TKM")
    cursor = int(page.text.split('data-cursor="', 1)[1].split('"', 1)[0])
    assert client.get("/web/meetings/changes", params={"after": cursor, "state": "TKM"}).json()["items"] == []

    add_report(sqlite_url, NEW, NOW + timedelta(hours=1))
    body = client.get("/web/meetings/changes", params={"after": cursor, "state": "TKM"}).json()
    (item,) = body["items"]
    assert body["cursor"] > cursor
    assert item["date"] == "2025-05-01"
    assert f'id="m-{item["id"]}"' in item["html"]
    assert "&lt;b&gt;today&lt;/b&gt;" in item["html"]
    # The same change under other filters: not an item, and named in "gone" so a page drops a stale card.
    phone = client.get("/web/meetings/changes", params={"after": cursor, "mode": "phone"}).json()
    assert item["id"] not in [i["id"] for i in phone["items"]]
    assert item["id"] in phone["gone"]
    # Every item matches the filters (the look-back window re-reads older changes too).
    assert phone["items"]
    assert all('data-mode="phone"' in i["html"] for i in phone["items"])
    # Text filters apply too.
    assert client.get("/web/meetings/changes", params={"after": cursor, "q": "Meredov"}).json()["items"]
    assert not client.get("/web/meetings/changes", params={"after": cursor, "q": "nowhere"}).json()["items"]
    # Re-read within the look-back window: the client skips it by its stamp.
    again = client.get("/web/meetings/changes", params={"after": body["cursor"], "state": "TKM"}).json()
    assert [i["stamp"] for i in again["items"]] == [item["stamp"]]
    assert again["cursor"] == body["cursor"]


def test_a_bad_filter_is_shown_not_a_json_error(client: TestClient) -> None:
    response = client.get("/?since=yesterday&mode=phone")
    assert response.status_code == 200
    assert 'id="err-since"' in response.text
    assert "not a date (YYYY-MM-DD)" in response.text

"""``/api/rules``: the rules in force with secrets redacted, and an authenticated, validated, atomic replace
of the COMMUNIQUE_RULES file that the store's rule loader picks up."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from services.alerts.rules import load_rules
from services.store.ingest import active_rules
from tests.integration.api.conftest import TOKEN, make_client

AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
SECRET2 = "whsec_" + base64.b64encode(b"z" * 32).decode()

RULES = f"""\
# the desk's rules
- name: kaz-top
  match:
    level_at_least: foreign_minister
    states_any: [KAZ]
  channels:
    - webhook: https://hooks.example.org/a
      secret: {SECRET}
    - apprise: tgram://bottoken123456/ChatID
"""

NEW_RULES = f"""\
- name: uzb-any
  match:
    states_any: [UZB]
  channels:
    - webhook: https://hooks.example.org/b
      secret: [{SECRET2}, {SECRET}]
    - email: desk@example.org
"""


def _rules_file(tmp_path: Path, text: str = RULES) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    path.chmod(0o640)
    return path


def test_list_redacts_secrets(seeded_url: str, tmp_path: Path) -> None:
    with make_client(seeded_url, rules=_rules_file(tmp_path)) as c:
        r = c.get("/api/rules")
    assert r.status_code == 200
    body = r.json()
    assert [rule["name"] for rule in body] == ["kaz-top"]
    assert body[0]["match"]["states_any"] == ["KAZ"]
    webhook, apprise = body[0]["channels"]
    assert webhook == {"webhook": "https://hooks.example.org/a", "secret": "whsec_…" + SECRET[-4:]}
    assert apprise == {"apprise": "tgram://…atID"}
    assert SECRET[6:] not in r.text
    assert "bottoken" not in r.text


def test_list_is_empty_without_a_rules_file(seeded_url: str) -> None:
    with make_client(seeded_url) as c:
        r = c.get("/api/rules")
    assert (r.status_code, r.json()) == (200, [])


def test_write_needs_the_token(seeded_url: str, tmp_path: Path) -> None:
    path = _rules_file(tmp_path)
    with make_client(seeded_url, rules=path) as c:
        assert c.put("/api/rules", content=NEW_RULES).status_code == 401
        bad = {"Authorization": "Bearer wrong"}
        assert c.put("/api/rules", content=NEW_RULES, headers=bad).status_code == 401
    with make_client(seeded_url, rules=path, api_token=None) as c:
        r = c.put("/api/rules", content=NEW_RULES, headers=AUTH)
        assert r.status_code == 401
        assert "COMMUNIQUE_API_TOKEN" in r.json()["detail"]
    assert path.read_text(encoding="utf-8") == RULES


def test_write_without_a_rules_file_is_409(seeded_url: str) -> None:
    with make_client(seeded_url) as c:
        r = c.put("/api/rules", content=NEW_RULES, headers=AUTH)
    assert r.status_code == 409
    assert "COMMUNIQUE_RULES" in r.json()["detail"]


def test_invalid_rules_are_422_with_lines_and_the_file_is_kept(seeded_url: str, tmp_path: Path) -> None:
    path = _rules_file(tmp_path)
    bad = NEW_RULES.replace("[UZB]", "[UZBEK]").replace("desk@example.org", "not-an-address")
    with make_client(seeded_url, rules=path) as c:
        r = c.put("/api/rules", content=bad, headers=AUTH)
        assert r.status_code == 422
        detail = r.json()["detail"]
        assert [d["loc"] for d in detail] == [["body", 3], ["body", 7]]
        assert "UZBEK" in detail[0]["msg"]
        assert "e-mail" in detail[1]["msg"]
        assert "line 3:" in r.json()["message"]
        assert "line 7:" in r.json()["message"]

        r = c.put("/api/rules", content="- name: x\n  channels: [\n", headers=AUTH)
        assert r.status_code == 422
        assert "YAML syntax error" in r.json()["detail"][0]["msg"]

        r = c.put("/api/rules", content='[{"name": }]', headers={**AUTH, "Content-Type": "application/json"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", 1]
        assert c.get("/api/rules").json()[0]["name"] == "kaz-top"
    assert path.read_text(encoding="utf-8") == RULES
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]


def test_valid_write_replaces_the_file_and_the_loader_picks_it_up(seeded_url: str, tmp_path: Path) -> None:
    path = _rules_file(tmp_path)
    assert [r.name for r in active_rules(path)] == ["kaz-top"]  # the store's per-process cache is primed
    inode = path.stat().st_ino
    with make_client(seeded_url, rules=path) as c:
        r = c.put("/api/rules", content=NEW_RULES, headers=AUTH)
        assert r.status_code == 200, r.text
        assert [rule["name"] for rule in r.json()] == ["uzb-any"]
        listed = c.get("/api/rules").json()
    assert listed == r.json()
    assert listed[0]["channels"][0]["secret"] == ["whsec_…" + SECRET2[-4:], "whsec_…" + SECRET[-4:]]
    assert listed[0]["channels"][1] == {"email": "desk@example.org"}
    assert path.read_text(encoding="utf-8") == NEW_RULES
    assert path.stat().st_ino != inode  # replaced, not rewritten in place
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["rules.yaml"]
    rules = active_rules(path)
    assert [r.name for r in rules] == ["uzb-any"]
    assert rules == load_rules(path)


def test_json_body_is_accepted(seeded_url: str, tmp_path: Path) -> None:
    path = _rules_file(tmp_path)
    body = [
        {"name": "json-rule", "match": {"states_all": ["KAZ", "CHN"]}, "channels": [{"email": "a@b.org"}]}
    ]
    with make_client(seeded_url, rules=path) as c:
        r = c.put(
            "/api/rules",
            content=json.dumps(body, indent="\t"),
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert c.get("/api/rules").json()[0]["match"]["states_all"] == ["KAZ", "CHN"]
    assert [r.name for r in load_rules(path)] == ["json-rule"]

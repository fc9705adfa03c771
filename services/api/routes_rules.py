"""``/api/rules``: the alert rules in force (secrets redacted), and replacing them (bearer token).

The rules file named by ``COMMUNIQUE_RULES`` stays the only store: ``PUT`` validates the new list with
``services.alerts.rules`` and replaces the file atomically (temporary file in the same directory, then
``os.replace``), and the store and the relay pick it up on their next run because
``services.store.ingest.active_rules`` re-reads the file when it changes. A file shared by several API
processes thus needs no table and no cache invalidation.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from services.alerts.rules import AppriseChannel, Rule, RulesError, WebhookChannel, parse_rules
from services.api.auth import require_token
from services.core.settings import Settings
from services.store.ingest import active_rules

__all__ = ["redact_rule", "router", "write_atomically"]

router = APIRouter(tags=["rules"])

# A rules list is a few kilobytes; a megabyte is a mistake or an attack, not a rules file.
MAX_BODY = 1_000_000
_LINE = re.compile(r"^.*?:(\d+): (.*)$", re.S)
_LABEL = "body"


def _tail(value: str) -> str:
    return value[-4:] if len(value) > 12 else ""


def redact_rule(rule: Rule) -> dict[str, Any]:
    """The rule as JSON with its credentials hidden.

    Heuristic: a webhook secret shows as ``whsec_…`` and its last four characters (enough to tell which key
    is deployed, far too little to sign with); an Apprise URL embeds the service's token, so only its scheme
    and last four characters are shown. Webhook URLs and e-mail addresses are destinations, not credentials,
    and stay visible.
    """
    channels: list[dict[str, Any]] = []
    for ch in rule.channels:
        if isinstance(ch, WebhookChannel):
            secrets = ["whsec_…" + _tail(s) for s in ch.secrets]
            channels.append(
                {"webhook": ch.webhook, "secret": secrets[0] if isinstance(ch.secret, str) else secrets}
            )
        elif isinstance(ch, AppriseChannel):
            scheme = ch.apprise.split("://", 1)[0]
            channels.append({"apprise": f"{scheme}://…{_tail(ch.apprise)}"})
        else:
            channels.append(ch.model_dump(mode="json"))
    out = rule.model_dump(mode="json")
    out["channels"] = channels
    return out


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a reader sees the old file or the new one, never a half-written
    one: a temporary file in the same directory (same file system), flushed to disk, then ``os.replace``.
    The file holds webhook secrets: the new one keeps the old one's permissions, or is owner-only."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _errors_response(lines: list[str]) -> JSONResponse:
    detail = []
    for err in lines:
        m = _LINE.match(err)
        line, msg = (int(m.group(1)), m.group(2)) if m else (0, err)
        detail.append({"loc": ["body", line], "msg": msg, "type": "rules"})
    message = "invalid rules: " + "; ".join(f"line {d['loc'][1]}: {d['msg']}" for d in detail)
    return JSONResponse({"detail": detail, "message": message}, status_code=422)


def _rules_text(body: bytes, content_type: str) -> str | list[str]:
    """The YAML text to validate and store, or the errors (``LABEL:LINE: message``).

    JSON is valid YAML as far as PyYAML reads it, except tab indentation; such a JSON body is stored
    re-indented (its line numbers then refer to the stored text)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return [f"{_LABEL}:1: the body is not UTF-8"]
    if "json" in content_type:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            return [f"{_LABEL}:{exc.lineno}: JSON syntax error: {exc.msg}"]
        try:
            yaml.safe_load(text)
        except yaml.YAMLError:
            text = json.dumps(data, indent=2, ensure_ascii=False)
    return text if text.endswith("\n") else text + "\n"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


_RULES_BODY = {
    "requestBody": {
        "required": True,
        "description": "the whole rules list (a list, or a mapping with a `rules` key), YAML or JSON",
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}


@router.get("/api/rules", summary="The alert rules in force (secrets redacted)")
def list_rules(request: Request) -> list[dict[str, Any]]:
    path = _settings(request).rules
    if path is None or not path.exists():
        return []
    try:
        rules = active_rules(path)
    except RulesError as exc:
        # The file was edited by hand into an invalid state: say so instead of pretending there are no rules.
        raise HTTPException(503, {"message": "the rules file is invalid", "errors": exc.errors}) from exc
    return [redact_rule(r) for r in rules]


@router.put(
    "/api/rules",
    summary="Replace every alert rule (validated, then written to the COMMUNIQUE_RULES file)",
    dependencies=[Depends(require_token)],
    openapi_extra=_RULES_BODY,
    responses={
        401: {"description": "no or wrong bearer token"},
        409: {"description": "no rules file is configured (COMMUNIQUE_RULES)"},
        413: {"description": "body over 1 MB"},
        422: {"description": "invalid rules: one `detail` entry per problem, `loc` = [body, line]"},
    },
)
async def put_rules(request: Request) -> Any:
    path = _settings(request).rules
    if path is None:
        raise HTTPException(
            409,
            "no rules file is configured: set COMMUNIQUE_RULES (or --rules) to the file the API may write",
        )
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, f"rules body over {MAX_BODY} bytes")
    text = _rules_text(body, request.headers.get("content-type", ""))
    if isinstance(text, list):
        return _errors_response(text)
    try:
        rules = parse_rules(text, _LABEL)
    except RulesError as exc:
        return _errors_response(exc.errors)
    try:
        write_atomically(path, text)
    except OSError as exc:
        raise HTTPException(409, f"cannot write the rules file {path}: {exc.strerror or exc}") from exc
    return [redact_rule(r) for r in rules]

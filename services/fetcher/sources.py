"""The source registry: which feeds and listing pages to watch, as data (YAML), validated before use.

A registry file is either a list of source mappings or a mapping with a ``sources:`` list. Each source becomes
a frozen ``SourceDef``. ``validate_sources_file`` reports every problem at once, each as ``FILE:LINE:
message`` with the line of the offending value (found through the YAML node tree, so pydantic's error
locations map back to the text the operator edits). ``load_sources`` raises ``SourcesError`` carrying the same
messages.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import pycountry
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from selectolax.lexbor import LexborHTMLParser

from services.core.domain import ArticleSelectors
from services.core.yamllines import child, duplicate_keys, locate

__all__ = [
    "BUNDLED_SOURCES",
    "ListSelectors",
    "SourceDef",
    "SourcesError",
    "load_sources",
    "validate_sources_file",
]

BUNDLED_SOURCES = Path(__file__).resolve().parent / "data" / "sources.yaml"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# ISO 3166 user-assigned codes in common use by states and international bodies.
_EXTRA_COUNTRIES = frozenset({"XKX", "EUE"})


class SourcesError(ValueError):
    """The registry file is invalid; ``errors`` holds one ``FILE:LINE: message`` per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@lru_cache(maxsize=1)
def _probe_doc() -> LexborHTMLParser:
    return LexborHTMLParser("<html><body><p></p></body></html>")


def _check_css(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    try:
        _probe_doc().css(value)
    except Exception as exc:  # selectolax raises its own SelectolaxError (not exported in every version)
        raise ValueError(f"invalid CSS selector {value!r}") from exc
    return value


class ListSelectors(BaseModel):
    """CSS selectors of a listing page. ``item`` matches each item's link ``<a>`` (or an element holding it);
    ``title`` and ``date`` are looked up inside the item, then in its enclosing row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item: str
    title: str | None = None
    date: str | None = None
    next_page: str | None = None
    # Numeric dates like 2/28/22 are day-first unless the site writes month first.
    date_order: Literal["dmy", "mdy"] = "dmy"

    @field_validator("item", "title", "date", "next_page")
    @classmethod
    def _css(cls, v: str | None) -> str | None:
        return _check_css(v)


def _check_url(v: str) -> str:
    v = v.strip()
    parts = urlsplit(v)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"URL scheme must be http or https, not {parts.scheme or 'missing'!r}")
    if not parts.hostname:
        raise ValueError("URL has no host")
    return v


class SourceDef(BaseModel):
    """One watched feed or listing page. Intervals are in seconds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=80)
    name: str = Field(min_length=1)
    country: str
    language: str
    kind: Literal["rss", "atom", "html_list"]
    url: str
    interval: int = Field(default=900, ge=60)
    min_interval: int = Field(default=300, ge=60)
    max_interval: int = Field(default=86400, ge=60)
    enabled: bool = True
    list: ListSelectors | None = None
    article: ArticleSelectors | None = None
    publisher: str | None = None
    host_spacing: float | None = Field(default=None, ge=0)
    notes: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)

    @field_validator("country")
    @classmethod
    def _country(cls, v: str) -> str:
        v = v.strip().upper()
        if v in _EXTRA_COUNTRIES or (len(v) == 3 and pycountry.countries.get(alpha_3=v) is not None):
            return v
        raise ValueError(f"{v!r} is not an ISO 3166-1 alpha-3 country code")

    @field_validator("language")
    @classmethod
    def _language(cls, v: str) -> str:
        v = v.strip()
        primary = v.split("-", 1)[0].lower()
        ok = (len(primary) == 2 and pycountry.languages.get(alpha_2=primary) is not None) or (
            len(primary) == 3 and pycountry.languages.get(alpha_3=primary) is not None
        )
        if not ok:
            raise ValueError(f"{v!r} is not an ISO 639 language code")
        return v

    @field_validator("article", mode="after")
    @classmethod
    def _article_css(cls, v: ArticleSelectors | None) -> ArticleSelectors | None:
        if v is not None:
            named = [("title", v.title), ("body", v.body), ("date", v.date)]
            named += [(f"drop[{i}]", d) for i, d in enumerate(v.drop)]
            for key, sel in named:
                try:
                    _check_css(sel)
                except ValueError as exc:
                    raise ValueError(f"{key}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> SourceDef:
        if self.kind == "html_list" and self.list is None:
            raise ValueError("kind html_list needs list selectors (list: {item: ...})")
        if not self.min_interval <= self.interval <= self.max_interval:
            raise ValueError(
                f"interval {self.interval} must lie within min_interval {self.min_interval} "
                f"and max_interval {self.max_interval}"
            )
        return self


# --------------------------------------------------------------------------- YAML with line numbers


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _format_error(err: Any) -> str:
    loc = ".".join(str(p) for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def _read(path: Path) -> tuple[list[SourceDef], list[str]]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{name}:0: cannot read: {exc}"]
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader (C or Python)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return [], [f"{name}:{line}: YAML syntax error: {getattr(exc, 'problem', None) or exc}"]
    if root is None:
        return [], [f"{name}:1: empty registry"]
    errors = [f"{name}:{line}: {msg}" for line, msg in duplicate_keys(root)]
    seq_node: yaml.Node = root
    if isinstance(data, dict):
        data = data.get("sources")
        seq_node = child(root, "sources") or root
    if not isinstance(data, list):
        return [], [
            *errors,
            f"{name}:{_line(seq_node)}: expected a list of sources (or 'sources:' with a list)",
        ]
    sources: list[SourceDef] = []
    first_line: dict[str, int] = {}
    for i, raw in enumerate(data):
        node = child(seq_node, i) or seq_node
        if not isinstance(raw, dict):
            errors.append(f"{name}:{_line(node)}: source #{i + 1} is not a mapping")
            continue
        label = str(raw.get("id") or f"#{i + 1}")
        raw_id = raw.get("id")
        duplicate = isinstance(raw_id, str) and raw_id in first_line
        if duplicate:
            errors.append(
                f"{name}:{locate(node, ('id',))}: duplicate source id {raw_id!r} "
                f"(first defined on line {first_line[str(raw_id)]})"
            )
        elif isinstance(raw_id, str):
            first_line[raw_id] = locate(node, ("id",))
        try:
            src = SourceDef.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                line = locate(node, tuple(err["loc"]))
                errors.append(f"{name}:{line}: source {label}: {_format_error(err)}")
            continue
        if not duplicate:
            sources.append(src)
    return sources, errors


def validate_sources_file(path: Path | str) -> list[str]:
    """Every problem in the registry file, one ``FILE:LINE: message`` each; an empty list means valid."""
    return _read(Path(path))[1]


def load_sources(path: Path | None = None) -> list[SourceDef]:
    """The sources of ``path`` (default: the bundled registry). Raises ``SourcesError`` if anything is
    invalid."""
    sources, errors = _read(path or BUNDLED_SOURCES)
    if errors:
        raise SourcesError(errors)
    return sources

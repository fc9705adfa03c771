"""`communique demo`: a local server plays two sample sources; the real pipeline runs against it.

The sample pages in ``demo_data/`` were written for the demo in the style of ministry releases.
The server binds to 127.0.0.1 on a free port, so the demo works offline on a fresh clone. The demo
allows only that loopback address as a private network; everything else stays blocked.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import click

__all__ = ["DemoServer", "demo_server", "run_demo"]

_ROUTES = {
    "/kz/feed.xml": ("feed.xml", "application/rss+xml; charset=utf-8"),
    "/president/news/": ("listing.html", "text/html; charset=utf-8"),
}
_ARTICLE_PREFIXES = ("/kz/press/", "/president/news/")


def _data_dir() -> Path:
    return Path(str(resources.files("services.core") / "demo_data"))


class DemoServer:
    """Serves ``demo_data`` on 127.0.0.1 with ``{base}`` replaced by the server's own address."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or _data_dir()
        self.hits: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                outer.hits.append((self.path, dict(self.headers.items())))
                body, ctype = outer.render(self.path.split("?", 1)[0])
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def render(self, path: str) -> tuple[bytes | None, str]:
        if path in _ROUTES:
            name, ctype = _ROUTES[path]
            return self._read(name), ctype
        for prefix in _ARTICLE_PREFIXES:
            if path.startswith(prefix) and path.endswith(".html"):
                name = path[len(prefix):]
                if "/" not in name and ".." not in name:
                    return self._read("articles/" + name), "text/html; charset=utf-8"
        return None, ""

    def _read(self, rel: str) -> bytes | None:
        p = self.data_dir / rel
        if not p.is_file():
            return None
        return p.read_text(encoding="utf-8").replace("{base}", self.base).encode("utf-8")

    def sources_yaml(self) -> str:
        return (self.data_dir / "sources.yaml").read_text(encoding="utf-8").replace("{base}", self.base)

    def start(self) -> DemoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@contextmanager
def demo_server() -> Iterator[DemoServer]:
    server = DemoServer().start()
    try:
        yield server
    finally:
        server.stop()


def _describe(rec: dict[str, object]) -> str:
    parts = []
    for p in rec.get("participants") or []:  # type: ignore[attr-defined]
        who = p.get("name") or p.get("title") or "(unnamed)"
        side = p.get("country") or p.get("org") or "?"
        parts.append(f"{who} [{side}, {p.get('role')}]")
    loc = rec.get("location") or {}
    place = ", ".join(x for x in (loc.get("city"), loc.get("country")) if x) if isinstance(loc, dict) else ""
    n_src = len(rec.get("sources") or [])  # type: ignore[arg-type]
    return (
        f"{rec.get('date') or 'date unknown'}  {rec.get('mode')}  {place or '-'}  {rec.get('status')}\n"
        f"    " + "  +  ".join(parts) + f"\n    sources: {n_src}"
    )


def run_demo(workdir: Path | None = None, as_json: bool = False) -> int:
    """Serve the sample sources, run one pipeline cycle on a fresh SQLite file, print the meetings."""
    from services.core import pipeline
    from services.core.settings import Settings
    from services.fetcher.sources import load_sources

    workdir = workdir or Path(tempfile.mkdtemp(prefix="communique-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with demo_server() as server:
        sources_path = workdir / "sources.yaml"
        sources_path.write_text(server.sources_yaml(), encoding="utf-8")
        settings = Settings(
            database_url=f"sqlite:///{workdir / 'demo.db'}",
            broker_url=None,
            sources=sources_path,
            allow_private_networks="127.0.0.1/32",
            host_spacing_s=0.0,
            respect_robots=True,
        )
        click.echo(f"demo sources served at {server.base}; database {workdir / 'demo.db'}", err=True)
        pipeline.init_db(settings)
        sources = load_sources(sources_path)
        counts = pipeline.run_once(settings, sources)
        click.echo(f"pipeline: {json.dumps(counts, default=str)}", err=True)
        records = list(pipeline.iter_meeting_records(settings))
    if as_json:
        for rec in records:
            click.echo(json.dumps(rec, ensure_ascii=False, default=str))
    else:
        click.echo(f"{len(records)} meeting(s) stored:")
        for rec in records:
            click.echo("  " + _describe(rec))
    return 0 if records else 1


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("COMMUNIQUE_ALLOW_PRIVATE_NETWORKS", "127.0.0.1/32")
    raise SystemExit(run_demo())

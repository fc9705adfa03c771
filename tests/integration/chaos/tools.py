"""Tools of the chaos tests: a gate that holds a stage inside its transaction, a Redis server of our own, beat
processes, the process behind a Postgres connection, and the invariants every test checks.

The gate is the way to kill a task at a known point without a test hook in the production code: a trigger
(test-only DDL, dropped on exit) on the row a stage writes waits for an advisory lock that the test holds. A
worker that reaches that write blocks inside its open transaction, visible in ``pg_locks`` as a waiter; the
test then kills it, cuts its connection, or lets it go.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from services.core.settings import Settings
from tests.integration.harness import Worker, free_port, stop_process, wait_for
from tests.integration.webhook_receiver import Receiver

__all__ = [
    "FAST",
    "Beat",
    "Gate",
    "RedisServer",
    "assert_invariants",
    "backend_gone",
    "check_alerts",
    "children",
    "client_pid",
    "deliveries",
    "free_port",
    "invariants",
    "pg_conninfo",
    "query",
    "relay_once",
    "start_beat",
    "stop_beat",
    "task_ids",
]

# Short enough for a test; the limits keep their order (soft < hard < visibility timeout, retries below it).
# The thread and solo pools enforce no time limit, so a task held at a gate is not cut by them.
FAST = {
    "COMMUNIQUE_VISIBILITY_TIMEOUT_S": "8",
    "COMMUNIQUE_TASK_SOFT_TIME_LIMIT_S": "4",
    "COMMUNIQUE_TASK_TIME_LIMIT_S": "5",
    "COMMUNIQUE_FETCH_DEADLINE_S": "4",
}

GATE_NS = 0x63686173  # "chas": advisory-lock namespace of the gates (two-int form)
_gate_ids = itertools.count(1)


def pg_conninfo(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as a libpq URL."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def query(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """One statement in its own connection (autocommit): a consistent snapshot of what it reads."""
    with psycopg.connect(pg_conninfo(url), autocommit=True, connect_timeout=5) as conn:
        cur = conn.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


class Gate:
    """Holds every transaction that writes a row of ``table`` (``event``: INSERT or UPDATE) matching ``when``,
    until ``open()``. Closed on entry; the trigger is dropped on exit (waiters are released first)."""

    def __init__(self, url: str, table: str, event: str, when: str) -> None:
        self.url = url
        self.table = table
        self.event = event
        self.when = when
        self.id = next(_gate_ids)
        self.name = f"chaos_gate_{os.getpid()}_{self.id}"
        self._conn: psycopg.Connection[Any] | None = None
        self.closed = False

    def __enter__(self) -> Gate:
        self._conn = psycopg.connect(pg_conninfo(self.url), autocommit=True)
        self.close()
        self._conn.execute(
            f"CREATE FUNCTION {self.name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"PERFORM pg_advisory_lock_shared({GATE_NS}, {self.id}); "
            f"PERFORM pg_advisory_unlock_shared({GATE_NS}, {self.id}); "
            "RETURN NEW; END $$"
        )
        self._conn.execute(
            f"CREATE TRIGGER {self.name} BEFORE {self.event} ON {self.table} FOR EACH ROW "
            f"WHEN ({self.when}) EXECUTE FUNCTION {self.name}()"
        )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._conn is not None
        self.open()
        # DROP TRIGGER waits for the transactions that hold the table; a waiter whose client is gone may
        # linger until Postgres notices, so do not wait for it forever.
        self._conn.execute("SET lock_timeout = '10s'")
        self._conn.execute(f"DROP TRIGGER IF EXISTS {self.name} ON {self.table}")
        self._conn.execute(f"DROP FUNCTION IF EXISTS {self.name}()")
        self._conn.close()

    def close(self) -> None:
        assert self._conn is not None
        if not self.closed:
            self._conn.execute("SELECT pg_advisory_lock(%s, %s)", (GATE_NS, self.id))
            self.closed = True

    def open(self) -> None:
        assert self._conn is not None
        if self.closed:
            self._conn.execute("SELECT pg_advisory_unlock(%s, %s)", (GATE_NS, self.id))
            self.closed = False

    def waiters(self) -> list[tuple[int, int]]:
        """(backend pid, client port) of each transaction held at the gate."""
        rows = query(
            self.url,
            "SELECT a.pid, a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = %s AND l.objid = %s "
            "AND l.objsubid = 2 AND a.datname = current_database() ORDER BY a.backend_start",
            (GATE_NS, self.id),
        )
        return [(int(pid), int(port)) for pid, port in rows]

    def wait_blocked(self, n: int = 1, timeout: float = 60) -> list[tuple[int, int]]:
        return list(
            wait_for(
                lambda: w if len(w := self.waiters()) >= n else None,
                timeout=timeout,
                interval=0.1,
                what=f"{n} transaction(s) held at the gate on {self.event} {self.table}",
            )
        )


def backend_gone(url: str, pid: int, timeout: float = 15) -> None:
    """Wait until Postgres has ended backend ``pid`` (its transaction rolled back); terminate it at the end
    of ``timeout`` if it still lingers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not query(url, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)):
            return
        time.sleep(0.1)
    query(url, "SELECT pg_terminate_backend(%s)", (pid,))
    wait_for(
        lambda: not query(url, "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)),
        timeout=10,
        what=f"backend {pid} to end",
    )


def _socket_inodes(port: int, remote_port: int | None = None) -> set[str]:
    """Inodes of the local TCP sockets bound to ``port`` (connected to ``remote_port``, if given)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            local, remote, inode = parts[1], parts[2], parts[9]
            if int(local.rsplit(":", 1)[1], 16) != port:
                continue
            if remote_port is not None and int(remote.rsplit(":", 1)[1], 16) != remote_port:
                continue
            inodes.add(inode)
    return inodes


def client_pid(client_port: int, among: list[int]) -> int | None:
    """Which of the processes ``among`` holds the client end (local port ``client_port``) of a connection."""
    inodes = {f"socket:[{i}]" for i in _socket_inodes(client_port)}
    for pid in among:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return pid
    return None


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (the pool processes of a prefork worker)."""
    out: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            # the command name is in parentheses and may hold spaces: fields after it are fixed
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                out.append(int(entry))
    return out


def task_ids(worker: Worker | Beat, name: str, event: str = "received") -> list[str]:
    """Ids of the tasks ``name`` that the worker's log shows as ``event`` (received, succeeded, ...)."""
    return re.findall(rf"Task {re.escape(name)}\[([0-9a-f-]+)\] {event}", worker.output())


# --- the invariants -------------------------------------------------------------------------------------


def invariants(url: str) -> dict[str, Any]:
    """What must hold at every moment (one statement each, so each is a consistent snapshot): no meeting
    without its ``meeting.created`` outbox row, no meeting created twice, no document with two links to one
    meeting, at most one delivery per (outbox row, destination)."""
    orphans = query(
        url,
        "SELECT count(*) FROM meeting m WHERE NOT EXISTS (SELECT 1 FROM outbox o "
        "WHERE o.aggregate_id = m.id AND o.type = 'meeting.created')",
    )[0][0]
    created_twice = query(
        url,
        "SELECT count(*) FROM (SELECT aggregate_id FROM outbox WHERE type = 'meeting.created' "
        "GROUP BY aggregate_id HAVING count(*) > 1) x",
    )[0][0]
    double_deliveries = query(
        url,
        "SELECT count(*) FROM (SELECT outbox_id, channel_key FROM delivery GROUP BY outbox_id, channel_key "
        "HAVING count(*) > 1) x",
    )[0][0]
    return {"orphans": orphans, "created_twice": created_twice, "double_deliveries": double_deliveries}


def assert_invariants(url: str) -> None:
    assert invariants(url) == {"orphans": 0, "created_twice": 0, "double_deliveries": 0}


def deliveries(url: str) -> list[tuple[str, str, str, str]]:
    """(outbox id, outbox type, channel key, status) of every delivery."""
    return [
        (str(a), str(b), str(c), str(d))
        for a, b, c, d in query(
            url,
            "SELECT d.outbox_id, o.type, d.channel_key, d.status FROM delivery d "
            "JOIN outbox o ON o.id = d.outbox_id ORDER BY d.id",
        )
    ]


def relay_once(settings: Settings) -> int:
    """Run the relay's claim once, in this process (beat does it every few seconds in production): the
    claimed deliveries go to the workers through the broker."""
    from services.core import celery_app
    from services.core.task_base import using_settings

    celery_app.load_tasks()
    with using_settings(settings):
        return int(celery_app.app.tasks["notify.relay"]())


def check_alerts(url: str, settings: Settings, rx: Receiver) -> None:
    """Every meeting.created row has one delivery to the receiver, and the receiver gets each once."""
    relay_once(settings)
    wait_for(
        lambda: all(status == "sent" for *_, status in deliveries(url)),
        timeout=30,
        what="the claimed deliveries sent by the worker",
    )
    rows = deliveries(url)
    assert rows, "the rules planned no delivery"
    created = {str(r[0]) for r in query(url, "SELECT id FROM outbox WHERE type = 'meeting.created'")}
    assert sorted(o for o, kind, *_ in rows if kind == "meeting.created") == sorted(created)
    assert len({(o, key) for o, _, key, _ in rows}) == len(rows)
    assert sorted(rx.ids) == sorted(o for o, *_ in rows)  # each webhook once, none repeated
    assert rx.duplicates == []
    assert rx.rejected == []


# --- a Redis server of our own --------------------------------------------------------------------------


@dataclass
class RedisServer:
    """``redis-server`` on a free port under a temp dir; never the system Redis. ``persist``: AOF with an
    fsync per write (so a SIGKILL loses nothing acknowledged); else no RDB and no AOF at all."""

    persist: bool
    port: int = field(default_factory=free_port)
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="chaos-redis-")))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        if exe is None:
            import pytest

            pytest.fail("redis-server is not installed")
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", ""]
        args += ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self.ping, timeout=15, interval=0.05, what=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=2)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(15)
        self.proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- beat processes -------------------------------------------------------------------------------------


@dataclass
class Beat:
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    def output(self) -> str:
        return "".join(self.log)

    def sent(self, entry: str) -> int:
        return self.output().count(f"Sending due task {entry}")


def start_beat(env: dict[str, str], workdir: Path) -> Beat:
    """``communique beat`` (which execs ``celery beat``) in ``workdir``: its schedule file is its own."""
    workdir.mkdir(parents=True, exist_ok=True)
    exe = Path(sys.executable).parent / "communique"
    proc = subprocess.Popen(
        [str(exe), "beat"], cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    beat = Beat(proc=proc)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            beat.log.append(line)

    beat.pump = threading.Thread(target=pump, daemon=True)
    beat.pump.start()
    wait_for(
        lambda: "Sending due task" in beat.output() or proc.poll() is not None,
        timeout=60,
        what="celery beat to send its first task",
    )
    if proc.poll() is not None:
        raise AssertionError("beat exited:\n" + beat.output()[-4000:])
    return beat


def stop_beat(beat: Beat) -> None:
    stop_process(beat.proc, beat.pump, grace=15)

"""A fault-injecting TCP proxy for the chaos tests: 127.0.0.1:<port> in front of an upstream (Postgres).

Modes, switched at any time from the test:

* pass-through (the default): every byte is copied both ways;
* ``cut()``: every open connection is reset (RST on both sides, ``SO_LINGER`` 0), as a network device or a
  restarted server would do mid-transaction;
* ``refuse()`` / ``restore()``: stop listening, so new connections are refused (``ECONNREFUSED``), and listen
  again on the same port: an outage, then recovery.

Threads and ``select``; each connection is one pump thread. Bytes are never altered.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
from types import TracebackType

__all__ = ["FaultProxy"]

_LINGER_RST = struct.pack("ii", 1, 0)


def _reset(sock: socket.socket) -> None:
    """Close with an RST, not a FIN (no orderly goodbye, like a dropped route or a killed peer)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self.accepted = 0  # connections accepted since start (pool reconnects show here)
        self.cuts = 0  # connections reset by cut()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._listen()
        return self

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._unlisten()
        self.cut()

    def url_for(self, database_url: str) -> str:
        """``database_url`` (pointing at the upstream) rewritten to go through the proxy."""
        host, port = self.upstream
        return database_url.replace(f"@{host}:{port}/", f"@{self.host}:{self.port}/", 1)

    # --- faults --------------------------------------------------------------------------------------------

    def cut(self) -> int:
        """Reset every open connection; returns how many."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, server in pairs:
            _reset(client)
            _reset(server)
        self.cuts += len(pairs)
        return len(pairs)

    def refuse(self) -> None:
        """Stop listening: new connections are refused until ``restore``. Open ones are left alone."""
        self._unlisten()

    def restore(self) -> None:
        """Listen again on the same port."""
        if self._listener is None:
            self._listen()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # --- internals -----------------------------------------------------------------------------------------

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._acceptor = threading.Thread(target=self._accept_loop, args=(sock,), daemon=True)
        self._acceptor.start()

    def _unlisten(self) -> None:
        sock, self._listener = self._listener, None
        if sock is not None:
            sock.close()
        if self._acceptor is not None:
            self._acceptor.join(2)
            self._acceptor = None

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stop.is_set() and self._listener is listener:
            try:
                ready, _, _ = select.select([listener], [], [], 0.05)
                if not ready:
                    continue
                client, _ = listener.accept()
            except (OSError, ValueError):  # closed by refuse()/close()
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _reset(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._pairs.append((client, server))
                self.accepted += 1
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        peer = {client: server, server: client}
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.1)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    peer[sock].sendall(data)
        except (OSError, ValueError):  # reset by cut(), or the peer went away
            return
        finally:
            with self._lock:
                if (client, server) in self._pairs:
                    self._pairs.remove((client, server))
            for sock in (client, server):
                try:
                    sock.close()
                except OSError:
                    pass

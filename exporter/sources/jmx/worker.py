"""One long-lived JVM in a worker process, holding a JMX connection per target.

Before this, every JMX target started a ``java -jar jmxquery.jar`` process on every cycle
(≈ 0.3 CPU-s and ≈ 0.5 s each, the password on its command line).  Now a Python worker
process (``python -m exporter.sources.jmx.reader FD``, as the Admin-API worker) starts one
JVM in-process through JPype1 and talks JMX itself (``JMXConnectorFactory`` /
``MBeanServerConnection``):

* a connection per target is opened on first use and reused across cycles; a call that fails
  with an I/O error drops it and, if the target's time allows, reconnects at once (a broker
  that restarted is read again in the same cycle); connections not used for
  ``reader.IDLE_CLOSE`` seconds (targets that went away) are closed;
* per-target timeouts: the connect runs in a thread of its own with the target's deadline
  (a target that accepts TCP and never answers is reported at its deadline and cannot hold
  a query thread), and the RMI transport's own timeouts bound every call after it
  (``sun.rmi.transport.tcp.responseTimeout``, ``.handshakeTimeout``,
  ``sun.rmi.transport.proxy.connectTimeout``); each query runs in its own thread of the
  worker, so one target never delays another;
* the parent waits for each answer only until the target's deadline; a worker that still
  has not answered :data:`HANG_GRACE` seconds after a deadline (or died) is killed and
  replaced before the next query;
* no secret on a command line: the JMX password travels with each query over the worker's
  channel (exporter.ipc), keystore/truststore passwords with the worker's start message (and become JVM
  system properties inside the worker).  JVM-wide TLS settings are why there is one worker
  per distinct TLS setting (normally one).

Why JPype1 (a PyPI wheel, no JDK compiler needed) rather than py4j (a Java gateway process
plus a Python one, talking over a TCP socket: two processes and a listening port) or a Java
helper compiled at runtime (needs ``javac``, absent from JRE-only hosts): see docs/jmx.md.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from exporter.heap import rss_mb
from exporter.ipc import Channel, unpickle
from exporter.sources.base import SourceError
from exporter.sources.jmx.rows import JmxRow
from exporter.subproc import ChildProcess

log = logging.getLogger(__name__)

#: a worker that still owes an answer this long after its deadline is replaced
HANG_GRACE = 5.0
#: a worker whose JVM has not started after this long is replaced
STARTUP_LIMIT = 60.0
#: a worker whose RSS has passed this many MB is replaced before its next query (issue 17's
#: budget at 100 targets): its RSS grows by ~4 kB per target per cycle (~0.4 MB per 100-target
#: cycle, measured for 220 cycles without levelling off; not Java exceptions, which it no longer
#: raises in a steady cycle, and not found yet).  A replacement costs one JVM start (~1 s) and
#: re-opened connections in that cycle; at 100 targets it comes every ~80 cycles.
RECYCLE_RSS_MB = 150.0


def find_libjvm(java: str) -> str:
    """The ``libjvm`` belonging to the ``java`` executable (``jmx.java``): JPype loads the
    JVM as a library, but the option names the executable users know."""
    exe = shutil.which(java)
    if exe is None:
        raise SourceError(f"java executable {java!r} not found (set jmx.java or install a Java runtime)")
    home = Path(os.path.realpath(exe)).parent.parent
    for rel in ("lib/server/libjvm.so", "jre/lib/server/libjvm.so", "jre/lib/amd64/server/libjvm.so",
                "lib/client/libjvm.so", "lib/server/libjvm.dylib", "lib/libjli.dylib", "bin/server/jvm.dll"):
        if (home / rel).exists():
            return str(home / rel)
    raise SourceError(f"java executable {java!r} ({exe}): no libjvm found under {home}")


class _Pending:
    __slots__ = ("deadline", "done", "reply")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.done = threading.Event()
        self.reply: tuple[str, Any] | None = None


class JmxWorker:
    """The parent's handle on one worker process; thread-safe, queries run concurrently."""

    def __init__(self, java: str, system_properties: Sequence[tuple[str, str]] = (), timeout: float = 8.0) -> None:
        self.java = java
        self.system_properties = tuple(system_properties)
        self.timeout = timeout
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._process: ChildProcess | None = None
        self._conn: Channel | None = None
        self._pending: dict[int, _Pending] = {}
        self._seq = 0
        self.replaced = 0  # workers killed because they hung or died (for tests and logs)
        self.recycled = 0  # workers replaced because their RSS passed RECYCLE_RSS_MB
        self._ready = threading.Event()
        self._started_at = 0.0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> Channel:
        libjvm = find_libjvm(self.java)
        parent, theirs = Channel.pair()
        try:
            process = ChildProcess("exporter.sources.jmx.reader", [theirs.fileno()])
        finally:
            theirs.close()
        # the TLS store passwords are among the system properties: over the channel, never argv
        parent.send_object({"kind": "start"}, (libjvm, self.system_properties, self.timeout, logging.getLogger().getEffectiveLevel()))
        self._process, self._conn = process, parent
        self._pending = {}
        self._ready = threading.Event()
        self._started_at = time.monotonic()
        threading.Thread(
            target=self._read, args=(parent, self._pending, self._ready), name="jmx-worker-reader", daemon=True
        ).start()
        return parent

    def _read(self, conn: Channel, pending: dict[int, _Pending], ready: threading.Event) -> None:
        while True:
            try:
                meta, body = conn.recv()
            except (EOFError, OSError, ValueError):
                break
            kind, seq = str(meta.get("kind")), int(meta.get("seq", 0))
            value = unpickle(body) if kind == "ok" else meta.get("message")
            if kind == "ready":
                log.debug("JMX worker ready: %s", value)
                ready.set()
                continue
            with self._lock:
                slot = pending.pop(seq, None)
            if slot is not None:
                slot.reply = (kind, value)
                slot.done.set()
        with self._lock:
            slots = list(pending.values())
            pending.clear()
        for slot in slots:
            slot.reply = ("error", "the JMX worker process died; it restarts with the next query")
            slot.done.set()

    def _healthy(self) -> bool:
        if self._process is None or self._conn is None or not self._process.is_alive():
            return False
        now = time.monotonic()
        if not self._ready.is_set():  # a JVM starting on a loaded host: judged by STARTUP_LIMIT
            return now - self._started_at < STARTUP_LIMIT
        # the worker checks its deadline between RMI calls, and RMI's response timeout
        # (self.timeout) bounds each call: an answer later than that plus a grace is a hang
        return not any(now > p.deadline + self.timeout + HANG_GRACE for p in self._pending.values())

    def start(self) -> None:
        """Start the worker ahead of the first query (its JVM takes a second or more)."""
        with self._lock:
            if not self._healthy():
                self._discard()
                self._start()

    def query(self, key: str, address: str, patterns: Sequence[str], username: str | None, password: str | None,
              timeout: float) -> list[JmxRow]:
        return [row for group in self.query_groups(key, address, patterns, username, password, timeout) for row in group]

    def query_groups(self, key: str, address: str, patterns: Sequence[str], username: str | None, password: str | None,
                     timeout: float) -> list[list[JmxRow]]:
        """The rows of each pattern, in the patterns' order (one query, one round trip)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if not self._pending and self._process is not None and self._ready.is_set():
                rss = rss_mb(self._process.pid)
                if rss > RECYCLE_RSS_MB:
                    self.recycled += 1
                    log.info("JMX worker (pid %s) at %.0f MB RSS, over %.0f MB: replacing it (connections re-open)",
                             self._process.pid, rss, RECYCLE_RSS_MB)
                    self._discard()
            if not self._healthy():
                if self._process is not None:
                    self.replaced += 1
                    log.warning("JMX worker (pid %s) hung or died: replacing it", self._process.pid)
                self._discard()
                conn = self._start()
            else:
                assert self._conn is not None
                conn = self._conn
            self._seq += 1
            seq = self._seq
            slot = _Pending(deadline)
            self._pending[seq] = slot
        try:
            with self._send_lock:
                conn.send({"kind": "query", "seq": seq, "key": key, "address": address, "patterns": list(patterns),
                           "username": username, "password": password, "timeout": timeout, "deadline": deadline})
        except (OSError, ValueError):
            raise SourceError(f"JMX {address}: the JMX worker process is gone; it restarts with the next query") from None
        # the worker answers at its own deadline with the precise reason; a little slack for the channel
        if not slot.done.wait(max(0.0, deadline - time.monotonic()) + 0.3):
            if not self._ready.is_set():
                raise SourceError(f"JMX {address}: no answer within {timeout:.1f} s (the JMX worker's JVM is still starting)")
            raise SourceError(f"JMX {address}: no answer within {timeout:.1f} s (the JMX worker is stuck on it)")
        assert slot.reply is not None
        kind, value = slot.reply
        if kind == "ok":
            flat, ends = value
            rows = [JmxRow(*r) for r in flat]
            return [rows[start:end] for start, end in zip([0, *ends[:-1]], ends, strict=True)]
        raise SourceError(f"JMX {address}: {value}")

    def _discard(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process = self._conn = None

    def close(self) -> None:
        with self._lock:
            self._discard()


_workers: dict[tuple[str, tuple[tuple[str, str], ...]], JmxWorker] = {}
_workers_lock = threading.Lock()


def worker_for(java: str, system_properties: Sequence[tuple[str, str]] = (), timeout: float = 8.0) -> JmxWorker:
    """The shared worker of one java executable and one set of JVM-wide (TLS) settings."""
    key = (java, tuple(system_properties))
    with _workers_lock:
        worker = _workers.get(key)
        if worker is None:
            worker = _workers[key] = JmxWorker(java, system_properties, timeout)
        return worker


def close_all() -> None:
    with _workers_lock:
        workers = list(_workers.values())
        _workers.clear()
    for w in workers:
        w.close()

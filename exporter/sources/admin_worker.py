"""The Admin-API client runs in a worker process of its own.

librdkafka (2.16 and earlier) dereferences a NULL consumer-group handle when an Admin
client's ``list_consumer_group_offsets`` gets NOT_COORDINATOR back (librdkafka#5040,
confluent-kafka-python#1982): the whole process dies with SIGSEGV. That answer is normal
while a group's coordinator moves, i.e. whenever a broker restarts. In a worker process
such a crash costs one cycle of Admin-API data (``source_up 0`` with the reason) and a
restarted worker, not the exporter. It also keeps confluent-kafka's long GIL holds while
building big results out of the process that serves ``/metrics``.

Protocol: the parent sends ``"collect"``, the worker answers ``("ok", ClusterState)`` or
``("error", message)``; ``"stop"`` or a closed pipe ends it.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from exporter.sources.base import SourceError

if TYPE_CHECKING:
    from exporter.config import Config

log = logging.getLogger(__name__)


def _serve(conn: Connection, config: Config, level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s [admin worker]: %(message)s")
    logging.getLogger("librdkafka").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.ERROR)
    from exporter.cycle import trim_heap
    from exporter.sources.admin import AdminSource

    source = AdminSource(config, isolated=False)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request != "collect":
            return
        gc.disable()  # as in the collector: ~100k result objects, freed by reference counting
        try:
            reply: tuple[str, Any] = ("ok", source.collect_here())
        except SourceError as exc:
            reply = ("error", str(exc))
        except Exception as exc:
            reply = ("error", f"{exc.__class__.__name__}: {exc}")
        finally:
            gc.enable()
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return
        # the state lives on in the parent: free it here, and give the heap back (glibc
        # kept ~100 MB mapped between cycles at 10k partitions / 500 groups)
        del reply
        trim_heap()


class AdminWorker:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def _start(self) -> Connection:
        context = multiprocessing.get_context("spawn")  # no fork of a process with librdkafka threads
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(child, self.config, logging.getLogger().getEffectiveLevel()),
            name="kafka-insight-admin",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        return parent

    def collect(self) -> Any:
        with self._lock:
            conn = self._conn
            if conn is None or self._process is None or not self._process.is_alive():
                self._discard()
                conn = self._start()
            # generous: the cycle's own deadline reports a slow answer long before this
            limit = 2 * self.config.timeout + self.config.request_timeout + 30
            try:
                conn.send("collect")
                if not conn.poll(limit):
                    self._discard()
                    raise SourceError(f"Admin-API worker did not answer within {limit:g} s; it was restarted")
                kind, value = conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                code = self._process.exitcode if self._process is not None else None
                if self._process is not None:
                    self._process.join(1)
                    code = self._process.exitcode
                self._discard()
                cause = "a crash inside librdkafka (SIGSEGV)" if code == -11 else f"exit status {code}"
                raise SourceError(f"Admin-API worker process died ({cause}); it restarts next cycle") from None
            if kind == "ok":
                return value
            raise SourceError(str(value))

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process = self._conn = None

    def stop(self) -> None:
        with self._lock:
            if self._conn is not None and self._process is not None and self._process.is_alive():
                with contextlib.suppress(OSError):
                    self._conn.send("stop")
                self._process.join(3)
            self._discard()

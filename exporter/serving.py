"""``/metrics`` served by a process of its own, fed one rendered exposition per cycle.

Why: a scrape needs the GIL a few times (accept, parse, write).  In the process that
collects, a cycle at 10k partitions / 500 groups keeps the GIL busy for about a second
(unpickling the Admin-API state, building ~300k samples, rendering), so scrapes that
land in a collection waited for it: /metrics p99 was 35-100 ms during a collection
(benchmarks/bench.py).  The serving process does nothing but serve, so a scrape costs
what the bytes cost, whatever the collector is doing.

How:
* the parent binds the listening socket (so "address in use" is still reported by the
  command line, before anything starts) and hands it to the child, a fresh
  ``python -m exporter.serving`` that never imports the collector or librdkafka;
* after each cycle the parent sends one :mod:`exporter.ipc` frame (the status as its JSON
  object, the gzipped text as its body) over a socket pair from a publisher thread (the
  cycle does not wait); the child reads it into fresh buffers, swaps them in as one
  reference (a scrape never sees half a cycle) and acknowledges with an ``ack`` frame.
  Only the gzip copy travels and is kept (~1 MB at 10k partitions instead of 33 MB):
  Prometheus always asks for gzip, and a plain-text scrape is inflated on the fly;
* if the child dies it is restarted at once with the same listening socket (connections
  wait in the backlog meanwhile) and gets the latest exposition again; if the parent
  dies the child sees end-of-file and exits.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from exporter.exposition import Exposition
from exporter.http import ExporterHTTPServer, Status, TargetStatus, collector_findings, collector_status
from exporter.ipc import Channel
from exporter.subproc import ChildProcess

if TYPE_CHECKING:
    from exporter.cycle import Collector

log = logging.getLogger(__name__)

#: seconds the serving process may take to read and acknowledge one exposition
PUBLISH_TIMEOUT = 30.0


class PublishedView:
    """The child's view: what the parent published last."""

    def __init__(self) -> None:
        self.exposition = Exposition(b"", b"", 0)
        self._status = Status()
        #: the findings document published with the exposition (exporter.interpret.findings)
        self.findings_document: dict[str, Any] | None = None

    def status(self) -> Status:
        return self._status

    def findings(self) -> dict[str, Any] | None:
        return self.findings_document

    def update(self, exposition: Exposition, status: Status) -> None:
        self.exposition, self._status = exposition, status


def _decode_status(data: dict[str, Any]) -> Status:
    return Status(
        ready=bool(data["ready"]),
        finished=float(data["finished"]),
        interval=float(data["interval"]),
        targets=tuple(TargetStatus(**t) for t in data["targets"]),
    )


def main(argv: list[str]) -> None:
    """``python -m exporter.serving LISTENER_FD CHANNEL_FD``: the serving process."""
    listener = socket.socket(fileno=int(argv[1]))
    channel = Channel.from_fd(int(argv[2]))
    try:
        args, _ = channel.recv()
    except (EOFError, OSError):
        return
    _child(listener, channel, args["title"], args["web_config_file"], args["probes_without_auth"], args["level"])


def _child(
    listener: socket.socket,
    channel: Channel,
    title: str,
    web_config_file: str,
    probes_without_auth: bool,
    level: int,
) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s [http]: %(message)s")
    from exporter import webconfig
    from exporter.configbase import ConfigError

    try:
        web = webconfig.load(web_config_file)
    except ConfigError as exc:  # the parent loaded it a moment ago: the file changed since
        log.error("web config: %s", exc)
        sys.exit(2)
    view = PublishedView()
    server = ExporterHTTPServer(listener.getsockname()[:2], view, title, web, probes_without_auth, bind_and_activate=False)
    server.socket.close()
    server.socket = listener
    server.server_address = listener.getsockname()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    while True:
        try:
            published, gzipped = channel.recv()
        except (EOFError, OSError):
            break  # the parent is gone (or stopping)
        # only the gzip copy (what Prometheus asks for, ~1 MB at 10k partitions); a plain
        # scrape inflates it piece by piece. The bytearray is served as it is (no copy).
        exposition = Exposition(None, gzipped, published["series"], published["body_length"])  # type: ignore[arg-type]
        view.update(exposition, _decode_status(published["status"]))
        findings = published.get("findings")  # the findings document (/ and /findings.json)
        view.findings_document = findings if isinstance(findings, dict) else None
        channel.send({"kind": "ack"})  # in place: the parent counts it as published
    server.shutdown()
    os._exit(0)  # daemon threads may still be writing to slow clients: do not wait for them


class IsolatedServer:
    """Parent side: owns the listening socket, the serving process and the publisher."""

    def __init__(
        self,
        collector: Collector,
        host: str,
        port: int,
        title: str = "",
        web_config_file: str = "",
        probes_without_auth: bool = False,
    ) -> None:
        # bound here (the serving process's server, not yet serving); raises OSError
        self._bound = ExporterHTTPServer((host, port), PublishedView())
        self.server_address = self._bound.server_address
        self._collector = collector
        # the serving process has the gzip copy: the collector need not keep 30 MB of text
        collector.keep_body = False
        #: what the serving process reads first (with the log level current at its start)
        self._child_args = {"title": title, "web_config_file": web_config_file, "probes_without_auth": probes_without_auth}
        self._process: ChildProcess | None = None
        self._channel: Channel | None = None
        self._lock = threading.Condition()
        self._pending = False
        self._stopping = False
        self.restarts = 0
        #: cycles the serving process has swapped in (acknowledged)
        self.published = 0
        #: the exposition the serving process acknowledged last
        self.acknowledged: Exposition | None = None
        self._spawn()
        # a collector that has collected already: hand the serving process its exposition now
        self._pending = collector.ready.is_set()
        collector.on_cycle.append(self._cycle_done)
        self._publisher = threading.Thread(target=self._publish_loop, name="publisher", daemon=True)
        self._publisher.start()
        self._watcher = threading.Thread(target=self._watch, name="http-watcher", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        self._spawned = time.monotonic()
        ours, theirs = Channel.pair()
        ours.sock.settimeout(PUBLISH_TIMEOUT)
        try:
            process = ChildProcess(__name__, [self._bound.socket.fileno(), theirs.fileno()])
        finally:
            theirs.close()
        try:
            ours.send({"kind": "start", **self._child_args, "level": logging.getLogger().getEffectiveLevel()})
        except OSError as exc:  # it died at once: the watcher restarts it
            log.debug("starting the serving process failed: %s", exc)
        self._process, self._channel = process, ours

    def _cycle_done(self, _collector: Collector) -> None:
        with self._lock:
            self._pending = True
            self._lock.notify_all()

    def _publish_loop(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                self._pending = False
                channel = self._channel
            exposition = self._collector.exposition
            status = collector_status(self._collector)
            published = {
                "kind": "exposition",
                "status": asdict(status),
                "body_length": exposition.body_length,
                "series": exposition.series,
                # the findings document (/ and /findings.json) rides with the exposition
                "findings": collector_findings(self._collector),
            }
            try:
                assert channel is not None
                channel.send(published, exposition.gzipped)
                acked = channel.recv()[0].get("kind") == "ack"
            except TimeoutError:  # alive but wedged: replace it (the watcher restarts it)
                log.warning("the serving process did not take the exposition within %g s; restarting it", PUBLISH_TIMEOUT)
                if self._process is not None:
                    self._process.kill()
                continue
            except (OSError, EOFError) as exc:  # the child died: the watcher restarts it and republishes
                log.debug("publishing to the serving process failed: %s", exc)
                continue
            if acked:
                with self._lock:
                    self.published += 1
                    self.acknowledged = exposition
                    self._lock.notify_all()

    def wait_published(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` expositions have been swapped in by the serving process."""
        with self._lock:
            return self._lock.wait_for(lambda: self.published >= count, timeout)

    def wait_current(self, timeout: float) -> bool:
        """Wait until the serving process serves the collector's current exposition."""
        with self._lock:
            return self._lock.wait_for(lambda: self.acknowledged is self._collector.exposition, timeout)

    def _watch(self) -> None:
        quick_deaths = 0
        while True:
            process = self._process
            assert process is not None
            process.join()
            quick_deaths = quick_deaths + 1 if time.monotonic() - self._spawned < 5 else 0
            delay = min(30.0, 0.5 * 2**quick_deaths) if quick_deaths else 0.0
            if not self._stopping:
                log.warning(
                    "the serving process (/metrics) exited with status %s; restarting it%s",
                    process.exitcode,
                    f" in {delay:g} s" if delay else "",
                )
            with self._lock:
                if delay:
                    self._lock.wait_for(lambda: self._stopping, delay)
                if self._stopping:
                    return
                if self._channel is not None:
                    self._channel.close()
                self.restarts += 1
                self._spawn()
                self._pending = self._collector.ready.is_set()  # hand it the latest exposition
                self._lock.notify_all()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def shutdown(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
            if self._channel is not None:
                self._channel.close()  # end-of-file: the child stops serving and exits
        if self._process is not None:
            self._process.join(3)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(3)
        self._bound.server_close()


if __name__ == "__main__":
    main(sys.argv)

"""HTTP endpoints: /metrics (pre-rendered bytes), / (findings), /findings.json, /runbook, /healthz, /readyz.

Handlers only read the current exposition reference of a :class:`View`; they never wait
for a collection, so concurrent scrapes are served in parallel from memory.  The view is
what the collector last published to the serving process (:mod:`exporter.serving`): the
one way the exporter serves, in production and in the tests.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from exporter import __version__
from exporter.exposition import CONTENT_TYPE, Exposition
from exporter.findings_page import render_json, render_page, runbook_page
from exporter.webconfig import WebConfig

if TYPE_CHECKING:  # not at run time: the serving process never loads the collector (nor librdkafka)
    from exporter.cycle import Collector

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetStatus:
    source: str
    target: str
    up: bool
    error: str | None
    duration: float


@dataclass(frozen=True)
class Status:
    """What the landing page and /readyz show besides the exposition."""

    ready: bool = False
    #: unix time the last cycle finished (0: none yet)
    finished: float = 0.0
    interval: float = 0.0
    targets: tuple[TargetStatus, ...] = field(default_factory=tuple)


class View(Protocol):
    """What the handlers read: one exposition and its status, swapped as a whole."""

    @property
    def exposition(self) -> Exposition: ...

    def status(self) -> Status: ...

    def findings(self) -> dict[str, Any] | None:
        """The cycle's findings document (exporter.interpret.findings), None before the first."""
        ...


def collector_findings(collector: Collector) -> dict[str, Any] | None:
    snap = collector.snapshot
    found = snap.derived.get("findings") if snap else None
    return found if isinstance(found, dict) else None


def collector_status(collector: Collector) -> Status:
    snap = collector.snapshot
    return Status(
        ready=collector.ready.is_set(),
        finished=snap.finished if snap else 0.0,
        interval=collector.interval,
        targets=tuple(TargetStatus(r.source, r.target, r.up, r.error, r.duration) for r in collector.status()),
    )


class Handler(BaseHTTPRequestHandler):
    server: ExporterHTTPServer
    protocol_version = "HTTP/1.1"
    server_version = f"kafka-insight-exporter/{__version__}"
    #: a client that stops sending mid-request frees its thread after this many seconds
    timeout = 30

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        view = self.server.view
        auth = self.server.web.auth
        open_probe = self.server.probes_without_auth and path in ("/healthz", "/readyz")
        if auth is not None and not open_probe and not auth.check(self.headers.get("Authorization")):
            # never log the header: it holds the (wrong) password
            log.debug("%s - %s %s: 401, missing or wrong basic-auth credentials", self.address_string(), self.command, path)
            self._send(
                401,
                b"Unauthorized\n",
                "text/plain; charset=utf-8",
                {"WWW-Authenticate": 'Basic realm="kafka-insight-exporter", charset="UTF-8"'},
            )
            return
        if path == "/metrics":
            exposition = view.exposition
            if "gzip" in (self.headers.get("Accept-Encoding") or ""):
                self._send(200, exposition.gzipped, CONTENT_TYPE, {"Content-Encoding": "gzip"})
            elif exposition.has_body:
                self._send(200, exposition.body, CONTENT_TYPE)
            else:  # only the gzip copy is kept: inflate it piece by piece for this client
                self._send_chunks(200, exposition.body_chunks(), exposition.body_length, CONTENT_TYPE)
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            if view.status().ready:
                self._send(200, b"ready\n", "text/plain; charset=utf-8")
            else:
                self._send(503, b"first collection cycle not finished\n", "text/plain; charset=utf-8")
        elif path == "/":
            page = render_page(view.findings(), view.status(), view.exposition.series, self.server.title)
            self._send(200, page.encode(), "text/html; charset=utf-8")
        elif path == "/findings.json":
            self._send(200, render_json(view.findings(), view.status()), "application/json")
        elif path == "/runbook":
            self._send(200, runbook_page(), "text/html; charset=utf-8")
        else:
            self._send(404, b"not found; try /metrics\n", "text/plain; charset=utf-8")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in {**self.server.web.headers, **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_chunks(self, status: int, chunks: Iterator[bytes], length: int, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        for key, value in self.server.web.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            for chunk in chunks:
                self.wfile.write(chunk)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)


class ExporterHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog of 5 drops SYNs under concurrent scrapes (1 s retransmit)
    request_queue_size = 128

    def __init__(
        self,
        address: tuple[str, int],
        view: View,
        title: str = "",
        web: WebConfig | None = None,
        probes_without_auth: bool = False,
        bind_and_activate: bool = True,
    ) -> None:
        super().__init__(address, Handler, bind_and_activate)
        self.view = view
        self.title = title
        self.web = web or WebConfig()
        self.probes_without_auth = probes_without_auth

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        """Per-connection thread: the TLS handshake happens here, not in the accept loop,
        so a client that stalls its handshake cannot block other scrapes."""
        if self.web.tls is not None:
            sock: socket.socket = request
            try:
                sock.settimeout(Handler.timeout)
                request = self.web.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address[0], exc)
                sock.close()
                return
        super().process_request_thread(request, client_address)



"""One JMX query of a target: every MBean pattern, over the target's persistent connection
in the shared JMX worker (:mod:`exporter.sources.jmx.worker`), with a hard timeout.

Patterns are jmxquery's (``object-name-pattern[/attribute[/key]]``) and rows are what
jmxquery returned, so the mapping and the recorded dumps stay valid.  Until issue 17 each
call ran ``java -jar jmxquery.jar`` (one JVM per target per cycle, the password on its
command line); see docs/jmx.md for the measurements.

TLS: the JMX connector's TLS (``com.sun.management.jmxremote.ssl=true``) uses the JVM's
``javax.net.ssl.*`` system properties; they are JVM-wide, so targets with different TLS
settings get a worker each.  An SSL RMI registry
(``com.sun.management.jmxremote.registry.ssl=true``) is not supported.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from exporter.sources.base import SourceError
from exporter.sources.jmx import worker as jmx_worker
from exporter.sources.jmx.config import JmxAuth
from exporter.sources.jmx.patterns import jmx_url
from exporter.sources.jmx.rows import JmxRow

__all__ = ["Limiter", "jmx_url", "prestart", "query", "query_groups", "tls_properties"]

log = logging.getLogger(__name__)


def tls_properties(auth: JmxAuth) -> list[tuple[str, str]]:
    """The JVM-wide ``javax.net.ssl.*`` settings of a target (set inside the worker, never
    on a command line)."""
    tls = auth.tls
    if tls is None:
        return []
    return [
        (prop, value)
        for prop, value in (
            ("javax.net.ssl.trustStore", tls.truststore),
            ("javax.net.ssl.trustStorePassword", tls.truststore_password),
            ("javax.net.ssl.keyStore", tls.keystore),
            ("javax.net.ssl.keyStorePassword", tls.keystore_password),
        )
        if value is not None
    ]


class Limiter:
    """Bounds the JVMs running at once across all targets of a source."""

    def __init__(self, parallel: int) -> None:
        self._sem = threading.BoundedSemaphore(parallel)

    def acquire(self, timeout: float) -> bool:
        return self._sem.acquire(timeout=max(0.0, timeout))

    def release(self) -> None:
        self._sem.release()


def query(
    address: str,
    patterns: Sequence[str],
    auth: JmxAuth,
    *,
    timeout: float,
    java: str = "java",
    limiter: Limiter | None = None,
    key: str | None = None,
) -> list[JmxRow]:
    """Query one target; raise :class:`SourceError` with a one-line reason on failure.

    ``key`` names the target's connection (default: the address and user)."""
    groups = query_groups(address, patterns, auth, timeout=timeout, java=java, limiter=limiter, key=key)
    return [row for group in groups for row in group]


def query_groups(
    address: str,
    patterns: Sequence[str],
    auth: JmxAuth,
    *,
    timeout: float,
    java: str = "java",
    limiter: Limiter | None = None,
    key: str | None = None,
) -> list[list[JmxRow]]:
    """As :func:`query`, the rows of each pattern apart (in the patterns' order)."""
    deadline = time.monotonic() + timeout
    if limiter is not None and not limiter.acquire(timeout):
        raise SourceError(f"JMX {address}: no free slot within {timeout:.1f} s (raise jmx.max_parallel)")
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise SourceError(f"JMX {address}: timed out waiting for a free slot")
        worker = jmx_worker.worker_for(java, tls_properties(auth), timeout)
        return worker.query_groups(
            key or f"{auth.username or ''}@{address}", address, patterns, auth.username, auth.password, remaining
        )
    finally:
        if limiter is not None:
            limiter.release()


def prestart(java: str, auths: Sequence[JmxAuth], timeout: float) -> None:
    """Start the workers these targets need now: a JVM takes seconds to start on a loaded
    host, which would otherwise fall into the first cycle.  A missing ``java`` is reported
    by the first query, as one line."""
    for props in {tuple(tls_properties(a)) for a in auths} or {()}:
        try:
            jmx_worker.worker_for(java, props, timeout).start()
        except SourceError as exc:
            log.debug("JMX worker not started: %s", exc)

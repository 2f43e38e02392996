"""One jmxquery call: every MBean pattern of a target in one JVM run, with a hard timeout.

jmxquery's Python wrapper (``JMXConnection.query``) logs a timeout and returns an empty
list, and hides the jar's error message; a JMX target that is down must instead be a
one-line error.  So we run jmxquery's own jar (``jmxquery.JAR_PATH``) with the query
strings ``jmxquery.JMXQuery`` builds, and handle the process ourselves: the jar prints
``{"error": ..., "message": ...}`` and exits non-zero when it cannot connect, and a target
that accepts the TCP connection but never answers is killed at the timeout.

TLS: the jar takes only a URL, user and password; TLS on the JMX connector
(``com.sun.management.jmxremote.ssl=true``) works through JVM system properties
(``javax.net.ssl.trustStore`` etc.), which we pass on the java command line.  An SSL RMI
registry (``com.sun.management.jmxremote.registry.ssl=true``) needs a JNDI socket factory the
jar never sets: such targets fail with "non-JRMP server at remote endpoint".
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
import time
from collections.abc import Sequence

import jmxquery

from exporter.sources.base import SourceError
from exporter.sources.jmx.config import JmxAuth
from exporter.sources.jmx.rows import JmxRow, rows_from_jmxquery

log = logging.getLogger(__name__)

#: short-lived JVM: skip the optimising JIT and use the serial GC (faster start, less CPU)
JVM_OPTS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xss512k", "-Xmx64m", "-Xshare:auto")


def jmx_url(address: str) -> str:
    """``host:port`` -> the standard RMI JMX service URL; a ``service:jmx:`` URL is kept."""
    if address.startswith("service:jmx:"):
        return address
    return f"service:jmx:rmi:///jndi/rmi://{address}/jmxrmi"


def tls_options(auth: JmxAuth) -> list[str]:
    tls = auth.tls
    if tls is None:
        return []
    opts = []
    for prop, value in (
        ("javax.net.ssl.trustStore", tls.truststore),
        ("javax.net.ssl.trustStorePassword", tls.truststore_password),
        ("javax.net.ssl.keyStore", tls.keystore),
        ("javax.net.ssl.keyStorePassword", tls.keystore_password),
    ):
        if value is not None:
            opts.append(f"-D{prop}={value}")
    return opts


def command(address: str, patterns: Sequence[str], auth: JmxAuth, java: str = "java") -> list[str]:
    query = "".join(jmxquery.JMXQuery(p).to_query_string() + ";" for p in patterns)
    cmd = [java, *JVM_OPTS, *tls_options(auth), "-jar", jmxquery.JAR_PATH, "-url", jmx_url(address), "-json"]
    if auth.username:
        cmd += ["-u", auth.username, "-p", auth.password or ""]
    return [*cmd, "-q", query]


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
) -> list[JmxRow]:
    """Run one jmxquery call; raise :class:`SourceError` with a one-line reason on failure."""
    deadline = time.monotonic() + timeout
    if limiter is not None and not limiter.acquire(timeout):
        raise SourceError(f"JMX {address}: no free slot within {timeout:.1f} s (raise jmx.max_parallel)")
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise SourceError(f"JMX {address}: timed out waiting for a free slot")
        try:
            done = subprocess.run(
                command(address, patterns, auth, java),
                capture_output=True,
                timeout=remaining,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SourceError(f"JMX {address}: no answer within {timeout:.1f} s (process killed)") from None
        except FileNotFoundError:
            raise SourceError(f"JMX {address}: java executable {java!r} not found") from None
    finally:
        if limiter is not None:
            limiter.release()
    text = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0 or text.startswith("{"):
        raise SourceError(f"JMX {address}: {_jar_error(text, done.stderr.decode('utf-8', 'replace'), done.returncode)}")
    try:
        parsed = json.loads(text or "[]", strict=False)
    except json.JSONDecodeError as exc:
        raise SourceError(f"JMX {address}: unreadable jmxquery output ({exc.msg} at {exc.pos})") from None
    if not isinstance(parsed, list):
        raise SourceError(f"JMX {address}: unexpected jmxquery output (not a list)")
    return rows_from_jmxquery(r for r in parsed if isinstance(r, dict))


def _jar_error(stdout: str, stderr: str, code: int) -> str:
    message = ""
    try:
        doc = json.loads(stdout, strict=False)
        if isinstance(doc, dict):
            message = f"{doc.get('error', 'error')}: {doc.get('message', '')}"
    except json.JSONDecodeError:
        message = stdout or stderr
    message = " ".join((message or f"jmxquery exited with status {code}").split())
    # the RMI messages nest the cause; the last "nested exception is" part is the useful one
    if "nested exception is:" in message:
        head = message.split(" [Root exception")[0].split(";")[0]
        tail = message.rsplit("nested exception is:", 1)[1].strip(" ]")
        message = f"{head}: {tail}"
    return message[:300]

"""One long-lived JVM in a worker process, holding a JMX connection per target.

Before this, every JMX target started a ``java -jar jmxquery.jar`` process on every cycle
(≈ 0.3 CPU-s and ≈ 0.5 s each, the password on its command line).  Now a Python worker
process (``python -m exporter.sources.jmx.worker FD``, as the Admin-API worker) starts one
JVM in-process through JPype1 and talks JMX itself (``JMXConnectorFactory`` /
``MBeanServerConnection``):

* a connection per target is opened on first use and reused across cycles; a call that fails
  with an I/O error drops it and, if the target's time allows, reconnects at once (a broker
  that restarted is read again in the same cycle); connections not used for
  :data:`IDLE_CLOSE` seconds (targets that went away) are closed;
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
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from exporter.ipc import Channel, unpickle
from exporter.sources.base import SourceError
from exporter.sources.jmx.rows import JmxRow
from exporter.subproc import ChildProcess

log = logging.getLogger(__name__)

#: the JVM inside the worker: small heap, serial GC, C1 only (the calls are I/O bound)
JVM_OPTS = ("-Xmx64m", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1",
            "-XX:MaxMetaspaceSize=64m", "-Xshare:auto", "-Djava.awt.headless=true")
#: a worker that still owes an answer this long after its deadline is replaced
HANG_GRACE = 5.0
#: a worker whose JVM has not started after this long is replaced
STARTUP_LIMIT = 60.0
#: a connection unused this long belongs to a target that went away: it is closed
IDLE_CLOSE = 600.0
#: query threads inside the worker (each waits on one target's RMI calls)
THREADS = 32
#: ``queryNames`` answers of patterns marked cacheable (a leading :data:`CACHE_NAMES`) are reused
#: this long per connection: for MBean sets that do not change while a broker runs
#: (ReplicaManager, KafkaController, ...); a new MBean of such a pattern would appear up to this
#: much later.  When a cached name has vanished, its pattern is asked again the next time.
NAMES_TTL = 60.0
#: pattern prefix: this pattern's MBean names may be cached for NAMES_TTL
CACHE_NAMES = "~"
#: a query's answer: (mbean, attribute, value, type) rows, and the end of each pattern's rows in them
Rows = tuple[list[tuple[str, str, object, str]], list[int]]


# --------------------------------------------------------------------------- parent side


def jmx_url(address: str) -> str:
    """``host:port`` -> the standard RMI JMX service URL; a ``service:jmx:`` URL is kept."""
    if address.startswith("service:jmx:"):
        return address
    return f"service:jmx:rmi:///jndi/rmi://{address}/jmxrmi"


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
        self._ready = threading.Event()
        self._started_at = 0.0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def _start(self) -> Channel:
        libjvm = find_libjvm(self.java)
        parent, theirs = Channel.pair()
        try:
            process = ChildProcess(__name__, [theirs.fileno()])
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


# --------------------------------------------------------------------------- worker side


def _split(pattern: str) -> tuple[str, list[str] | None, str | None]:
    """``object-name[/attribute[/key]]`` as jmxquery writes them; ``attribute`` may also be a
    comma-separated list (``/Count,Mean,99thPercentile``): one ``getAttributes`` reads them all."""
    name, _, rest = pattern.partition("/")
    if not rest:
        return name, None, None
    attribute, _, key = rest.partition("/")
    attributes = [a for a in attribute.split(",") if a]
    return name, attributes, (key or None) if len(attributes) == 1 else None


def _alternatives(name_pat: str) -> tuple[str, tuple[tuple[str, frozenset[str], bool], ...]]:
    """Name filters on key values: ``key=A|B`` keeps those values, ``key=!A|B`` all but those.
    ``domain:type=T,name=A|B|C`` -> (``domain:type=T,name=*``, (("name", {A, B, C}, True),)): the
    MBeans of a type that the mapping uses, found by one (cacheable) ``queryNames`` and kept by
    that key's value, instead of reading every MBean of the type (``KafkaController,*`` has 17
    MBeans, 8 used) or asking once per value.  ``|`` and a leading ``!`` are legal, if unusual,
    in ObjectName values; a quoted value is taken literally."""
    domain, sep, keys = name_pat.partition(":")
    parts = keys.split(",")
    filters: list[tuple[str, frozenset[str], bool]] = []
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        if eq and not value.startswith('"') and ("|" in value or value.startswith("!")):
            parts[i] = f"{key}=*"
            keep = not value.startswith("!")
            filters.append((key, frozenset(v for v in value.removeprefix("!").split("|") if v), keep))
    if not filters:
        return name_pat, ()
    return f"{domain}{sep}{','.join(parts)}", tuple(filters)


class _Spec:
    """One pattern, parsed once per worker: its ObjectName, attributes as a Java array and
    name filter (parsing and building these per MBean per cycle cost as much as the reads)."""

    __slots__ = ("attribute_names", "attributes", "cacheable", "canonical", "keep", "name_pat", "object_name", "only_key",
                 "plain", "single")

    def __init__(self, jvm: _Jvm, pattern: str) -> None:
        self.cacheable = pattern.startswith(CACHE_NAMES)
        #: the object-name part as written (with any ``A|B``): the key of the names cache
        self.name_pat, attributes, self.only_key = _split(pattern.removeprefix(CACHE_NAMES))
        query, self.keep = _alternatives(self.name_pat)
        self.object_name = jvm.ObjectName(query)
        self.plain = not bool(self.object_name.isPattern())
        self.canonical = str(self.object_name.toString()) if self.plain else ""
        self.attributes = jvm.jpype.JArray(jvm.jpype.JString)(attributes) if attributes else None
        #: the attribute names as Python strings (an answer with all of them needs no getName calls)
        self.attribute_names = tuple(attributes or ())
        #: the one attribute of a ``/Value``-style pattern: read with ``getAttribute`` (no
        #: AttributeList to build, send and walk)
        self.single = jvm.jpype.JString(attributes[0]) if attributes and len(attributes) == 1 else None


class _Jvm:
    """The JMX side, run inside the worker with the JVM started."""

    def __init__(self, timeout: float) -> None:
        import jpype

        self.jpype = jpype
        self.JMXConnectorFactory = jpype.JClass("javax.management.remote.JMXConnectorFactory")
        self.JMXServiceURL = jpype.JClass("javax.management.remote.JMXServiceURL")
        self.ObjectName = jpype.JClass("javax.management.ObjectName")
        self.HashMap = jpype.JClass("java.util.HashMap")
        self.Number = jpype.JClass("java.lang.Number")
        self.Integral = tuple(jpype.JClass(c) for c in ("java.lang.Long", "java.lang.Integer", "java.lang.Short", "java.lang.Byte"))
        self.Boolean = jpype.JClass("java.lang.Boolean")
        self.String = jpype.JClass("java.lang.String")
        self.CompositeData = jpype.JClass("javax.management.openmbean.CompositeData")
        self.IOException = jpype.JClass("java.io.IOException")
        self.InstanceNotFound = jpype.JClass("javax.management.InstanceNotFoundException")
        #: what ``getAttribute`` raises where ``getAttributes`` leaves the attribute out (missing,
        #: or its getter failed inside the target)
        self.NotReadable = (jpype.JClass("javax.management.JMException"), jpype.JClass("javax.management.JMRuntimeException"))
        self.timeout_ms = int(timeout * 1000)
        #: pattern -> its parsed :class:`_Spec` (the patterns are the same every cycle)
        self.specs: dict[str, _Spec] = {}
        #: Python type of a JMX value -> (converter or None when not a plain value, simple class name)
        self.kinds: dict[type, tuple[Any, str]] = {}
        self.lock = threading.Lock()
        #: key -> [connector, connection, {pattern: (names, when asked)}, last use, (address, user, password)]
        self.conns: dict[str, list[Any]] = {}
        self.key_locks: dict[str, threading.Lock] = {}

    def _connect(self, address: str, username: str | None, password: str | None, remaining: float) -> Any:
        env = self.HashMap()
        ms = str(max(100, int(remaining * 1000)))
        env.put("jmx.remote.x.request.waiting.timeout", ms)
        env.put("sun.rmi.transport.tcp.responseTimeout", ms)
        if username:
            creds = self.jpype.JArray(self.jpype.JString)([username, password or ""])
            env.put("jmx.remote.credentials", creds)
        box: dict[str, Any] = {}
        abandoned = threading.Event()

        def connect() -> None:
            try:
                connector = self.JMXConnectorFactory.connect(self.JMXServiceURL(jmx_url(address)), env)
            except Exception as exc:
                box["error"] = exc
                return
            if abandoned.is_set():  # the caller gave up: nobody will use or close it
                with contextlib.suppress(Exception):
                    connector.close()
                return
            box["connector"] = connector

        thread = threading.Thread(target=connect, name=f"jmx-connect {address}", daemon=True)
        thread.start()
        thread.join(remaining)
        if thread.is_alive():
            abandoned.set()
            raise TimeoutError(f"no answer within {remaining:.1f} s while connecting")
        if "error" in box:
            raise box["error"]
        return box["connector"]

    def _conn(self, key: str, address: str, username: str | None, password: str | None, deadline: float) -> list[Any]:
        with self.lock:
            lock = self.key_locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError("no answer within the timeout (waiting for this target's connection)")
        try:
            entry = self.conns.get(key)
            if entry is None or entry[4] != (address, username, password):
                if entry is not None:
                    self.drop(key)
                connector = self._connect(address, username, password, deadline - time.monotonic())
                entry = [connector, connector.getMBeanServerConnection(), {}, time.monotonic(), (address, username, password)]
                with self.lock:
                    self.conns[key] = entry
            entry[3] = time.monotonic()
            return entry
        finally:
            lock.release()

    def drop(self, key: str) -> None:
        with self.lock:
            entry = self.conns.pop(key, None)
        if entry is not None:
            threading.Thread(target=self._close, args=(entry[0],), daemon=True).start()

    @staticmethod
    def _close(connector: Any) -> None:
        with contextlib.suppress(Exception):
            connector.close()

    def expire(self) -> None:
        now = time.monotonic()
        with self.lock:
            idle = [k for k, e in self.conns.items() if now - e[3] > IDLE_CLOSE]
        for key in idle:
            self.drop(key)

    def _learn(self, v: Any) -> tuple[Any, str]:
        """How values of ``type(v)`` convert (asked once per type: ``getSimpleName`` alone
        costs ~13 µs per call through JPype, more than the rest of a value's conversion).
        JPype boxes ``java.lang.Long``/``Integer``/... as ``int`` subclasses and
        ``Double``/``Float`` as ``float`` ones, so ``int(v)``/``float(v)`` convert them in C."""
        kind = str(v.getClass().getSimpleName())
        if isinstance(v, self.Boolean):
            return bool, kind
        if isinstance(v, self.Integral):
            return (int if isinstance(v, int) else (lambda x: int(x.longValue()))), kind
        if isinstance(v, self.Number):
            return (float if isinstance(v, float) else (lambda x: float(x.doubleValue()))), kind
        if isinstance(v, self.String):
            return str, kind
        return None, kind  # composite data, arrays, other objects: not a plain value

    def _value(self, v: Any) -> tuple[object, str]:
        if v is None:
            return None, ""
        hit = self.kinds.get(type(v))
        if hit is None:
            hit = self.kinds[type(v)] = self._learn(v)
        convert, kind = hit
        return (convert(v) if convert is not None else str(v)), kind

    def _spec(self, pattern: str) -> _Spec:
        spec = self.specs.get(pattern)
        if spec is None:
            spec = self.specs[pattern] = _Spec(self, pattern)
        return spec

    def _names(self, entry: list[Any], spec: _Spec) -> list[tuple[Any, str]]:
        """The MBeans of a pattern with their canonical names: a plain name is read directly
        (no ``queryNames`` call; a missing one is skipped when read); a cacheable pattern's
        names are reused for :data:`NAMES_TTL`; ``name=A|B`` keeps only those names, ``error=!NONE``
        all but those."""
        if spec.plain:
            return [(spec.object_name, spec.canonical)]
        cache: dict[str, tuple[list[tuple[Any, str]], float]] = entry[2]
        now = time.monotonic()
        if spec.cacheable:
            hit = cache.get(spec.name_pat)
            if hit is not None and now - hit[1] < NAMES_TTL:
                return hit[0]
        names = []
        for name in entry[1].queryNames(spec.object_name, None):
            if all((str(name.getKeyProperty(key)) in values) == keep for key, values, keep in spec.keep):
                names.append((name, str(name.toString())))
        if spec.cacheable and names:  # an empty answer is not cached: a broker still starting registers them later
            cache[spec.name_pat] = (names, now)
        return names

    def _rows(self, entry: list[Any], patterns: Sequence[str], deadline: float, timeout: float) -> Rows:
        """Every pattern's rows, one flat list, and where each pattern's rows end in it."""
        mbsc = entry[1]
        rows: list[tuple[str, str, object, str]] = []
        ends: list[int] = []
        kinds = self.kinds
        for pattern in patterns:
            ends.append(len(rows))  # this pattern's rows end here unless it finds some (fixed below)
            spec = self._spec(pattern)
            only_key = spec.only_key
            for name, canonical in self._names(entry, spec):
                if time.monotonic() > deadline:  # a slow target: each call is quick, but too many
                    raise TimeoutError(f"no answer within {timeout:.1f} s (answering too slowly)")
                wanted = spec.attributes
                if wanted is None:
                    # read every time: Kafka's JmxReporter adds attributes to an MBean as the
                    # client registers metrics (e.g. compression-rate-avg after the first batch)
                    try:
                        info = mbsc.getMBeanInfo(name)
                    except self.InstanceNotFound:
                        entry[2].pop(spec.name_pat, None)
                        continue
                    readable = [str(a.getName()) for a in info.getAttributes() if a.isReadable()]
                    if not readable:
                        continue
                    wanted = self.jpype.JArray(self.jpype.JString)(readable)
                pairs: Any
                try:
                    if spec.single is not None and wanted is spec.attributes:
                        pairs = ((spec.attribute_names[0], mbsc.getAttribute(name, spec.single)),)
                    else:
                        found = mbsc.getAttributes(name, wanted).toArray()
                        if len(found) == len(spec.attribute_names):  # all there, in the order asked
                            pairs = zip(spec.attribute_names, [a.getValue() for a in found], strict=True)
                        else:
                            pairs = [(str(a.getName()), a.getValue()) for a in found]
                except self.InstanceNotFound:  # unregistered since queryNames (a client re-created)
                    entry[2].pop(spec.name_pat, None)  # ask for the pattern's names again next time
                    continue
                except self.NotReadable:  # as getAttributes would: the attribute is left out
                    continue
                for aname, value in pairs:
                    if value is None:
                        rows.append((canonical, aname, None, ""))
                        continue
                    hit = kinds.get(type(value))
                    if hit is None:
                        hit = kinds[type(value)] = self._learn(value)
                    if hit[0] is not None:  # Number, Boolean, String
                        rows.append((canonical, aname, hit[0](value), hit[1]))
                    elif isinstance(value, self.CompositeData):
                        keys = [only_key] if only_key else sorted(str(k) for k in value.getCompositeType().keySet())
                        for k in keys:
                            if value.containsKey(k):
                                rows.append((canonical, f"{aname}/{k}", *self._value(value.get(k))))
            ends[-1] = len(rows)
        return rows, ends

    def query(self, key: str, address: str, patterns: Sequence[str], username: str | None, password: str | None,
              timeout: float, deadline: float) -> Rows:
        # CLOCK_MONOTONIC is one clock for all processes of the host: the parent's deadline holds here
        for attempt in (1, 2):
            entry = self._conn(key, address, username, password, deadline)
            try:
                return self._rows(entry, patterns, deadline, timeout)
            except self.IOException as exc:
                # a restarted or vanished target: drop the connection; reconnect once if time allows
                self.drop(key)
                if attempt == 2 or deadline - time.monotonic() < 0.2:
                    raise SourceError(_message(exc)) from None
        raise AssertionError("unreachable")


def _message(exc: BaseException) -> str:
    """One line from a Java exception chain: its innermost three causes (RMI wraps the useful
    part, e.g. ``ConnectException: Connection refused`` or ``SSLHandshakeException: PKIX
    path building failed``, in several layers), each without RMI's repeated nested text."""
    parts: list[str] = []
    with contextlib.suppress(Exception):
        cause: Any = exc
        for _ in range(12):
            if cause is None:
                break
            message = str(cause.getMessage() or "").split("; nested exception is")[0].split(" [Root exception")[0]
            inner = cause.getCause()
            if inner is not None:  # Java repeats the cause's text in the message: keep it once
                message = message.split(str(inner.getClass().getName()))[0]
            parts.append(f"{cause.getClass().getName()}: {message}".rstrip(": "))
            cause = inner
    text = " <- ".join(reversed(parts[-3:])) if parts else str(exc)
    return " ".join(text.split())[:300]


def _serve(conn: Channel, libjvm: str, props: Sequence[tuple[str, str]], timeout: float) -> None:
    import jpype

    ms = str(int(timeout * 1000))
    jpype.startJVM(
        libjvm,
        *JVM_OPTS,
        f"-Dsun.rmi.transport.tcp.responseTimeout={ms}",
        f"-Dsun.rmi.transport.tcp.handshakeTimeout={ms}",
        f"-Dsun.rmi.transport.proxy.connectTimeout={ms}",
        f"-Dsun.rmi.transport.connectionTimeout={ms}",
        convertStrings=False,
    )
    system = jpype.JClass("java.lang.System")
    for prop, value in props:  # TLS stores and their passwords: never on a command line
        system.setProperty(prop, value)
    jvm = _Jvm(timeout)
    send_lock = threading.Lock()
    with send_lock:
        conn.send({"kind": "ready", "seq": 0, "message": os.getpid()})
    pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="jmx-query")

    def answer(seq: int, key: str, address: str, patterns: list[str], username: str | None, password: str | None,
               limit: float, deadline: float) -> None:
        rows = None
        try:
            rows = jvm.query(key, address, patterns, username, password, limit, deadline)
        except (SourceError, TimeoutError) as exc:
            message = str(exc)
        except Exception as exc:
            message = _message(exc)
        try:
            with send_lock:
                if rows is not None:
                    conn.send_object({"kind": "ok", "seq": seq}, rows)
                else:
                    conn.send({"kind": "error", "seq": seq, "message": message})
        except (OSError, ValueError):
            pass
        except Exception:
            log.exception("cannot send the answer to query %d", seq)
            with send_lock, contextlib.suppress(Exception):
                conn.send({"kind": "error", "seq": seq, "message": "the JMX worker could not send its answer (see its log)"})

    while True:
        try:
            request, _ = conn.recv()
        except (EOFError, OSError, ValueError):
            break
        if request.get("kind") != "query":
            break
        jvm.expire()
        r = request
        pool.submit(answer, int(r["seq"]), str(r["key"]), str(r["address"]), list(r["patterns"]), r["username"],
                    r["password"], float(r["timeout"]), float(r["deadline"]))
    os._exit(0)  # the JVM's non-daemon threads must not keep an orphan alive


def main(argv: list[str]) -> None:
    """``python -m exporter.sources.jmx.worker FD``: serve the parent on that descriptor."""
    conn = Channel.from_fd(int(argv[1]))
    try:
        _, body = conn.recv()
        libjvm, props, timeout, level = unpickle(body)
    except (EOFError, OSError, ValueError):
        return
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s [jmx worker]: %(message)s")
    _serve(conn, libjvm, props, timeout)


if __name__ == "__main__":
    main(sys.argv)

"""The JMX worker process's side: one JVM (JPype) holding a JMX connection per target.

Run as ``python -m exporter.sources.jmx.reader FD`` by :class:`exporter.sources.jmx.worker.JmxWorker`
(the parent's handle, which also explains the timeouts and why JPype1).  Each query names a
target and its patterns; a thread of the pool answers it over the target's connection:

* patterns are parsed once (:class:`_Spec`): the ObjectName, the attributes as a Java array,
  ``name=A|B`` / ``key=!A`` filters on one ``queryNames`` (:func:`~exporter.sources.jmx.patterns.alternatives`);
* a plain name is read without ``queryNames``; a cacheable pattern (leading :data:`CACHE_NAMES`)
  reuses its names for :data:`NAMES_TTL`;
* one RMI call per MBean (JMX has no multi-MBean read): ``getAttribute`` for one attribute,
  ``getAttributes`` for several; values are converted by their Python type.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from exporter.ipc import Channel, unpickle
from exporter.sources.base import SourceError
from exporter.sources.jmx.patterns import CACHE_NAMES, alternatives, jmx_url, split_pattern

log = logging.getLogger(__name__)

#: the JVM inside the worker: small heap, serial GC, C1 only (the calls are I/O bound)
JVM_OPTS = ("-Xmx64m", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1",
            "-XX:MaxMetaspaceSize=64m", "-Xshare:auto", "-Djava.awt.headless=true")
#: a connection unused this long belongs to a target that went away: it is closed
IDLE_CLOSE = 600.0
#: query threads inside the worker (each waits on one target's RMI calls)
THREADS = 32
#: ``queryNames`` answers of patterns marked cacheable (a leading :data:`CACHE_NAMES`) are reused
#: this long per connection: for MBean sets that do not change while a broker runs
#: (ReplicaManager, KafkaController, ...); a new MBean of such a pattern would appear up to this
#: much later.  When a cached name has vanished, its pattern is asked again the next time.
NAMES_TTL = 60.0
#: a query's answer: (mbean, attribute, value, type) rows, and the end of each pattern's rows in them
Rows = tuple[list[tuple[str, str, object, str]], list[int]]


class _Spec:
    """One pattern, parsed once per worker: its ObjectName, attributes as a Java array and
    name filter (parsing and building these per MBean per cycle cost as much as the reads)."""

    __slots__ = ("attribute_names", "attributes", "cacheable", "canonical", "keep", "name_pat", "object_name", "only_key",
                 "plain", "single")

    def __init__(self, jvm: _Jvm, pattern: str) -> None:
        self.cacheable = pattern.startswith(CACHE_NAMES)
        #: the object-name part as written (with any ``A|B``): the key of the names cache
        self.name_pat, attributes, self.only_key = split_pattern(pattern.removeprefix(CACHE_NAMES))
        query, self.keep = alternatives(self.name_pat)
        self.object_name = jvm.ObjectName(query)
        self.plain = not bool(self.object_name.isPattern())
        self.canonical = str(self.object_name.toString()) if self.plain else ""
        self.attributes = jvm.jpype.JArray(jvm.jpype.JString)(attributes) if attributes else None
        #: the attribute names as Python strings (an answer with all of them needs no getName calls)
        self.attribute_names = tuple(attributes or ())
        #: the one attribute of a ``/Value``-style pattern: read with ``getAttribute`` (no
        #: AttributeList to build, send and walk)
        self.single = jvm.jpype.JString(attributes[0]) if attributes and len(attributes) == 1 else None


class _Connection:
    """One target's JMX connection and what is learnt about its MBeans while it lives."""

    __slots__ = ("connector", "identity", "mbsc", "missing", "names", "no_get_attribute", "used")

    def __init__(self, connector: Any, mbsc: Any, identity: tuple[str, str | None, str | None]) -> None:
        self.connector = connector
        #: the MBeanServerConnection
        self.mbsc = mbsc
        #: (address, username, password): a target whose address or credentials change reconnects
        self.identity = identity
        #: pattern -> (its MBeans with their canonical names, when asked): see NAMES_TTL
        self.names: dict[str, tuple[list[tuple[Any, str]], float]] = {}
        #: time.monotonic() of the last query (idle connections are closed: IDLE_CLOSE)
        self.used = time.monotonic()
        #: canonical names of plain MBeans missing when last read (asked with queryNames until back)
        self.missing: set[str] = set()
        #: canonical names read with getAttributes, getAttribute having failed on them once
        self.no_get_attribute: set[str] = set()


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
        #: target key -> its connection
        self.conns: dict[str, _Connection] = {}
        self.key_locks: dict[str, threading.Lock] = {}

    def _connect(self, address: str, username: str | None, password: str | None, remaining: float) -> Any:
        _probe(address, remaining)  # a target that is down fails here, without a Java exception
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

    def _conn(self, key: str, address: str, username: str | None, password: str | None, deadline: float) -> _Connection:
        with self.lock:
            lock = self.key_locks.setdefault(key, threading.Lock())
        if not lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimeoutError("no answer within the timeout (waiting for this target's connection)")
        try:
            entry = self.conns.get(key)
            if entry is None or entry.identity != (address, username, password):
                if entry is not None:
                    self.drop(key)
                connector = self._connect(address, username, password, deadline - time.monotonic())
                entry = _Connection(connector, connector.getMBeanServerConnection(), (address, username, password))
                with self.lock:
                    self.conns[key] = entry
            entry.used = time.monotonic()
            return entry
        finally:
            lock.release()

    def drop(self, key: str) -> None:
        with self.lock:
            entry = self.conns.pop(key, None)
        if entry is not None:
            threading.Thread(target=self._close, args=(entry.connector,), daemon=True).start()

    @staticmethod
    def _close(connector: Any) -> None:
        with contextlib.suppress(Exception):
            connector.close()

    def expire(self) -> None:
        now = time.monotonic()
        with self.lock:
            idle = [k for k, e in self.conns.items() if now - e.used > IDLE_CLOSE]
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

    def _names(self, entry: _Connection, spec: _Spec) -> list[tuple[Any, str]]:
        """The MBeans of a pattern with their canonical names: a plain name is read directly
        (no ``queryNames`` call; a missing one is skipped when read); a cacheable pattern's
        names are reused for :data:`NAMES_TTL`; ``name=A|B`` keeps only those names, ``error=!NONE``
        all but those."""
        if spec.plain:
            if spec.canonical in entry.missing:  # missing when last read: asked without an exception
                if entry.mbsc.queryNames(spec.object_name, None).isEmpty():
                    return []
                entry.missing.discard(spec.canonical)
                entry.no_get_attribute.add(spec.canonical)  # back: read it once more without getAttribute's exceptions
            return [(spec.object_name, spec.canonical)]
        cache = entry.names
        now = time.monotonic()
        if spec.cacheable:
            hit = cache.get(spec.name_pat)
            if hit is not None and now - hit[1] < NAMES_TTL:
                return hit[0]
        names = []
        for name in entry.mbsc.queryNames(spec.object_name, None):
            if all((str(name.getKeyProperty(key)) in values) == keep for key, values, keep in spec.keep):
                names.append((name, str(name.toString())))
        if spec.cacheable and names:  # an empty answer is not cached: a broker still starting registers them later
            cache[spec.name_pat] = (names, now)
        return names

    def _rows(self, entry: _Connection, patterns: Sequence[str], deadline: float, timeout: float) -> Rows:
        """Every pattern's rows, one flat list, and where each pattern's rows end in it.

        No Java exception in a steady cycle: JPype (1.6-1.7.1) leaks the Python traceback it
        builds for every Java exception caught in Python (~2-25 kB each, never freed), so an
        MBean that is missing on a target (a controller MBean on a broker-only node, a broker
        MBean on a dedicated controller) would leak every cycle.  A plain name that was missing
        is asked with ``queryNames`` (an empty answer, no exception) until it is back; an MBean
        whose ``getAttribute`` failed is read with ``getAttributes`` (which leaves a missing
        attribute out); wildcard patterns always use ``getAttributes``."""
        mbsc = entry.mbsc
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
                        entry.names.pop(spec.name_pat, None)
                        if spec.plain:
                            entry.missing.add(canonical)
                        continue
                    readable = [str(a.getName()) for a in info.getAttributes() if a.isReadable()]
                    if not readable:
                        continue
                    wanted = self.jpype.JArray(self.jpype.JString)(readable)
                pairs: Any
                try:
                    if spec.single is not None and spec.plain and canonical not in entry.no_get_attribute:
                        pairs = ((spec.attribute_names[0], mbsc.getAttribute(name, spec.single)),)
                    else:
                        found = mbsc.getAttributes(name, wanted).toArray()
                        if len(found) == len(spec.attribute_names):  # all there, in the order asked
                            pairs = zip(spec.attribute_names, [a.getValue() for a in found], strict=True)
                        else:
                            pairs = [(str(a.getName()), a.getValue()) for a in found]
                except self.InstanceNotFound:  # unregistered since queryNames (a client re-created)
                    entry.names.pop(spec.name_pat, None)  # ask for the pattern's names again next time
                    if spec.plain:
                        entry.missing.add(canonical)  # not there (e.g. a controller MBean on a broker-only node)
                    continue
                except self.NotReadable:  # the attribute is left out, as getAttributes leaves it out
                    entry.no_get_attribute.add(canonical)  # and this MBean is read with getAttributes from now on
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


def _probe(address: str, remaining: float) -> None:
    """Refuse a ``host:port`` target whose port refuses TCP before asking Java: a broker that
    is down would otherwise cost a Java ``ConnectException`` every cycle, and JPype leaks the
    traceback of every Java exception caught in Python (see :meth:`_Jvm._rows`).  A port that
    accepts and never answers passes (the connect's own deadline bounds it); ``service:jmx:``
    URLs are left to Java."""
    host, sep, port = address.rpartition(":")
    if address.startswith("service:jmx:") or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=max(0.1, remaining)).close()
    except ConnectionRefusedError:
        raise SourceError(f"Connection refused (nothing listens on {address})") from None
    except TimeoutError:
        raise TimeoutError(f"no answer within {remaining:.1f} s while connecting") from None
    except OSError as exc:
        raise SourceError(f"cannot reach {address}: {exc.strerror or exc}") from None


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
    """``python -m exporter.sources.jmx.reader FD``: serve the parent on that descriptor."""
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

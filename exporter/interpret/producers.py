"""P2 (producers that reorder), P4 (compression read backwards), P5 (batch size after compression).

Pure functions of the JMX records (:mod:`exporter.sources.jmx.broker_records`,
:mod:`exporter.sources.jmx.client_records`) of one cycle, plus the topic configs of the
Admin-API :class:`ClusterState` for the codec comparison.  Stateless.

P2 rests on one explicit rule table (:func:`java_default_verdict`, :func:`software_verdict`)
and, for a Java producer whose JMX we read, on the settings the operator declared for it
(:func:`producer_verdict`).  Verdicts:

* ``reorders``: with these settings a retried batch can land after a later one
  (retries on, more than one request in flight, idempotence off);
* ``safe``: idempotence is on, or only one request is in flight;
* ``no_retries``: no reordering, because failed sends are not retried at all (Java
  clients before 2.1 by default, ``retries=0``, ``acks=0``): those sends are lost instead;
* ``unknown``: the version is not known (clients before Kafka 2.4 announce no name or
  version: KIP-511) or the client library is not in the table: reordering cannot be ruled
  out, and it is not called safe.

Every verdict says its ``basis``: ``declared`` when settings that decide ordering were
declared for the client, ``assumed_defaults`` when it rests on the defaults of the client's
version (JMX does not expose a producer's settings: a Java 4.0 producer configured with
``enable.idempotence=false`` and ``acks=1`` looks exactly like a default, safe one).

"May have reordered" (:class:`RetryWindow`) needs retries within a window while the
verdict is ``reorders``: it resolves once retries stop, unlike the cumulative counter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exporter.interpret.producer_specs import (
    BATCH_LIMIT,
    FILL,
    PRODUCER_REORDERING,
    PRODUCER_REORDERING_EVIDENCE,
    RAW_BATCH,
    RECOMPRESSED,
    SAVINGS,
    SOFTWARE_CONNECTIONS,
    SOFTWARE_REORDERING,
    TOPIC_SAVINGS,
)
from exporter.metrics import MetricSpec, Samples
from exporter.sources.admin.records import ClusterState
from exporter.sources.jmx.broker_records import BrokerJmx
from exporter.sources.jmx.client_records import ClientJmx, client_records

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot

VERDICTS = ("reorders", "safe", "no_retries", "unknown")
#: what a verdict rests on: settings declared for the client, or its version's defaults
BASES = ("declared", "assumed_defaults")
#: the declarable settings that decide ordering (batch.size, linger.ms, compression.type do not)
ORDERING_SETTINGS = ("enable.idempotence", "acks", "max.in.flight.requests.per.connection", "retries", "transactional.id")
#: Kafka Connect names its source tasks' producers connector-producer-<connector>-<task>
CONNECT_PRODUCER_PREFIX = "connector-producer-"
#: what a Kafka Connect worker sets on its producers unless overridden (producer.override.*,
#: the worker's producer.*): acks=all, one request in flight, idempotence off (KAFKA-13759)
CONNECT_DEFAULTS = {"acks": "all", "max.in.flight.requests.per.connection": "1", "enable.idempotence": "false"}
#: retries within this many seconds count as evidence that order may have been broken
RETRY_WINDOW_SECONDS = 600.0
#: compression-rate-avg at or above this: nothing saved (incompressible data, or codec none)
NO_SAVING_RATE = 0.9999
#: the Java producer's batch.size default
DEFAULT_BATCH_SIZE = 16384
#: listeners of the KRaft controllers: their connections are the nodes themselves
CONTROLLER_LISTENERS = ("CONTROLLER",)
JAVA = "java"

_VERSION_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(.*)$")


def parse_version(version: str | None) -> tuple[int, int, int] | None:
    """A Kafka client version as (major, minor, patch); Confluent Platform builds mapped to Apache Kafka.

    ``3.7.1``, ``2.8.0-SNAPSHOT`` -> as written; ``7.4.0-ccs`` / ``7.4.0-ce`` (Confluent
    Platform 5.0-8.x ship Apache Kafka 2.0-4.x: 5.x -> 2.x, 6.0/6.1/6.2 -> 2.6/2.7/2.8,
    7.x -> 3.x, 8.x -> 4.x; Apache Kafka has no release 5 or later, so such a version
    without the suffix is Confluent's too).  CP patch numbers are not Apache ones; only
    where a rule depends on the patch is it mapped: the KAFKA-13598 fix (Apache 3.0.1,
    3.1.1) is in CP 7.0.2 and 7.1.1 -- CP 7.0.1 still has the bug, so it maps to 3.0.0.
    Anything else -> None.
    """
    m = _VERSION_RE.match((version or "").strip())
    if not m:
        return None
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
    if major >= 5:  # Confluent Platform (-ccs community, -ce enterprise builds)
        if major == 5:
            major = 2
        elif major == 6 and minor <= 2:
            major, minor = 2, 6 + minor
        elif major == 7:
            major = 3
            if minor == 0:
                patch = 0 if patch < 2 else 1  # CP 7.0.2 is the first 7.0 with the fix
            elif minor == 1:
                patch = 0 if patch < 1 else 1  # CP 7.1.1
        elif major == 8:
            major = 4
        else:
            return None
    return major, minor, patch


def _idempotence_default_really_on(v: tuple[int, int, int]) -> bool:
    """KAFKA-13598: 3.0.0 and 3.1.0 claimed enable.idempotence=true but left it off."""
    return v >= (3, 2, 0) or (3, 0, 1) <= v < (3, 1, 0) or (3, 1, 1) <= v < (3, 2, 0)


def java_default_verdict(version: str | None) -> str:
    """The Java producer's verdict under default settings, by its version."""
    v = parse_version(version)
    if v is None:
        return "unknown"
    if v < (2, 1, 0):
        return "no_retries"  # retries defaulted to 0
    if v < (3, 0, 0):
        return "reorders"  # KIP-91: retries effectively infinite, 5 in flight, idempotence off
    return "safe" if _idempotence_default_really_on(v) else "reorders"


def software_verdict(name: str, version: str) -> str:
    """The verdict for a KIP-511 client software name/version under its default settings."""
    n, ver = name.strip().lower(), version.strip().lower()
    if n in ("", "unknown"):
        return "unknown"
    if n == "apache-kafka-java":
        return java_default_verdict(version)
    if "rdkafka" in n or "rdkafka" in ver or n.startswith("confluent-kafka-"):
        return "reorders"  # librdkafka: enable.idempotence=false, max.in.flight 1000000, retries on
    return "unknown"


def _int(value: str | None) -> int | None:
    try:
        return None if value is None else int(value.strip())
    except ValueError:
        return None


def is_connect_producer(client_id: str) -> bool:
    """A producer created by a Kafka Connect worker for a source task (its default client.id)."""
    return client_id.startswith(CONNECT_PRODUCER_PREFIX)


def verdict_basis(declared: Mapping[str, str]) -> str:
    """declared when a setting that decides ordering was declared, else assumed_defaults."""
    return "declared" if any((declared.get(k) or "").strip() for k in ORDERING_SETTINGS) else "assumed_defaults"


def producer_verdict(version: str | None, declared: Mapping[str, str], connect: bool = False) -> str:
    """A Java producer's verdict from its version and the settings declared for it.

    ``connect``: a Kafka Connect worker's producer, whose defaults are Connect's
    (:data:`CONNECT_DEFAULTS`) wherever no setting was declared.
    """
    if connect:
        declared = {**CONNECT_DEFAULTS, **{k: v for k, v in declared.items() if (v or "").strip()}}
    if (declared.get("transactional.id") or "").strip():
        return "safe"  # a transactional producer is idempotent (Kafka refuses enable.idempotence=false with it)
    idempotence = (declared.get("enable.idempotence") or "").strip().lower()
    acks = (declared.get("acks") or "").strip().lower()
    in_flight = _int(declared.get("max.in.flight.requests.per.connection"))
    retries = _int(declared.get("retries"))
    if acks == "0":
        return "no_retries"  # no response, nothing retried, nothing acknowledged either
    if idempotence == "true" or in_flight == 1:
        return "safe"
    if retries == 0:
        return "no_retries"
    v = parse_version(version)
    if v is None:
        return "unknown"
    if idempotence == "false":
        on = False
    elif _idempotence_default_really_on(v):
        # KAFKA-13673: an explicit conflicting setting silently turns the default off
        on = not ((acks and acks not in ("all", "-1")) or (in_flight is not None and in_flight > 5))
    else:
        on = False
    if on:
        return "safe"
    if retries is None and v < (2, 1, 0):
        return "no_retries"
    return "reorders"


# -- P4/P5 ------------------------------------------------------------------------------
def savings(rate: float | None) -> float | None:
    """1 - compressed/uncompressed, clamped to 0..1; None without a valid rate."""
    if rate is None or rate <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - rate))


def _norm_codec(codec: str) -> str:
    c = codec.strip().lower()
    return "none" if c == "uncompressed" else c


def producer_codec(client: ClientJmx) -> str | None:
    declared = client.declared.get("compression.type")
    if declared:
        return _norm_codec(declared)
    rate = client.producer.compression_rate_avg if client.producer else None
    # nothing declared: Kafka reports exactly 1.0 for uncompressed batches; a codec on
    # incompressible data is at or just above 1.0 (its framing): only up to 1.0 means none
    if rate is not None and NO_SAVING_RATE <= rate <= 1.0:
        return "none"
    return None


def codec_mismatch(topic_codec: str | None, codec: str | None) -> bool | None:
    """True when the broker recompresses; None when either side is not known."""
    if topic_codec is None or codec is None:
        return None
    t = _norm_codec(topic_codec)
    if t == "producer":
        return False
    return t != codec


@dataclass(frozen=True)
class BatchFacts:
    raw_estimate: float | None
    fill: float | None
    limit: int
    origin: str


def batch_facts(client: ClientJmx) -> BatchFacts:
    declared = _int(client.declared.get("batch.size"))
    limit, origin = (declared, "declared") if declared is not None and declared > 0 else (DEFAULT_BATCH_SIZE, "default")
    p = client.producer
    avg = p.batch_size_avg if p else None
    rate = p.compression_rate_avg if p else None
    raw = avg / rate if avg is not None and rate is not None and rate > 0 else None
    fill = min(1.0, avg / limit) if avg is not None else None
    return BatchFacts(raw, fill, limit, origin)


# -- emission --------------------------------------------------------------------------
def software_connections(brokers: Iterable[BrokerJmx]) -> dict[tuple[str, str], float]:
    totals: dict[tuple[str, str], float] = {}
    for b in brokers:
        for c in b.client_connections:
            if c.listener.upper() in CONTROLLER_LISTENERS:
                continue
            key = (c.software_name, c.software_version)
            totals[key] = totals.get(key, 0.0) + c.connections
    return dict(sorted(totals.items()))


def topic_codecs(state: ClusterState | None) -> dict[str, str | None]:
    if state is None:
        return {}
    codecs: dict[str, str | None] = {}
    for name, topic in state.topics.items():
        cv = (topic.configs or {}).get("compression.type")  # None: never read
        codecs[name] = cv.value if cv is not None else None
    return codecs


def _add(out: Samples, spec: MetricSpec, value: float | None, *labels: object) -> None:
    """An idle window (None) gives no sample: not 0, not 1, and not a dropped value."""
    if value is not None:
        out.add(spec, value, *labels)


@dataclass
class RetryWindow:
    """When each producer's record-retry-total last grew, to tell recent retries from old ones.

    One entry per producer seen in the last cycle (about 200 bytes each); producers that
    disappear are forgotten.  The first sight of a producer is its baseline: retries it
    made before cannot be dated, so they are not evidence.  A counter that goes down (the
    producer restarted) starts a new baseline.
    """

    window: float = RETRY_WINDOW_SECONDS
    #: (target, client_id) -> (last record-retry-total, time it last grew or None)
    seen: dict[tuple[str, str], tuple[float, float | None]] = field(default_factory=dict)

    def retried_recently(self, key: tuple[str, str], total: float | None, now: float) -> bool:
        last = self.seen.get(key)
        if total is None:
            return last is not None and last[1] is not None and now - last[1] < self.window
        grew_at = None
        if last is not None:
            grew_at = now if total > last[0] else last[1] if total == last[0] else None
        self.seen[key] = (total, grew_at)
        return grew_at is not None and now - grew_at < self.window

    def forget_all_but(self, keys: set[tuple[str, str]]) -> None:
        for gone in set(self.seen) - keys:
            del self.seen[gone]


def emit_producers(
    brokers: list[BrokerJmx],
    clients: list[ClientJmx],
    state: ClusterState | None,
    out: Samples,
    retries: RetryWindow | None = None,
    now: float = 0.0,
) -> None:
    """``retries`` (kept by the caller between cycles) dates the retries; without it no
    retry is evidence (one collection alone cannot tell recent retries from old ones)."""
    for (name, version), count in software_connections(brokers).items():
        out.add(SOFTWARE_CONNECTIONS, count, name, version)
        verdict = software_verdict(name, version)
        for v in VERDICTS:
            out.add(SOFTWARE_REORDERING, 1 if v == verdict else 0, name, version, "assumed_defaults", v)
    codecs = topic_codecs(state)
    for c in clients:
        if c.kind != "producer":
            continue
        ids = (c.target, c.client_id)
        verdict = producer_verdict(c.version, c.declared, is_connect_producer(c.client_id))
        basis = verdict_basis(c.declared)
        for v in VERDICTS:
            out.add(PRODUCER_REORDERING, 1 if v == verdict else 0, *ids, basis, v)
        p = c.producer
        total = p.record_retry_total if p is not None else None
        retried = retries is not None and retries.retried_recently(ids, total, now)
        out.add(PRODUCER_REORDERING_EVIDENCE, 1 if verdict == "reorders" and retried else 0, *ids)
        if p is None:
            continue
        _add(out, SAVINGS, savings(p.compression_rate_avg), *ids, JAVA)
        codec = producer_codec(c)
        for topic, pt in sorted(p.topics.items()):
            _add(out, TOPIC_SAVINGS, savings(pt.compression_rate), *ids, topic, JAVA)
            mismatch = codec_mismatch(codecs.get(topic), codec)
            if mismatch is not None:
                out.add(RECOMPRESSED, 1 if mismatch else 0, *ids, topic, JAVA)
        bf = batch_facts(c)
        _add(out, RAW_BATCH, bf.raw_estimate, *ids, JAVA)
        _add(out, FILL, bf.fill, *ids, JAVA)
        out.add(BATCH_LIMIT, bf.limit, *ids, bf.origin, JAVA)


class ProducersInterpreter:
    """P2/P4/P5 each cycle from the broker and client JMX payloads; keeps the :class:`RetryWindow`."""

    def __init__(self) -> None:
        self.retries = RetryWindow()

    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        clients = client_records(snapshot.client_jmx)
        emit_producers(snapshot.broker_jmx, clients, snapshot.admin, out, self.retries, snapshot.started)
        # producers of targets that answered and no longer show are gone; a target that
        # failed this cycle keeps its producers' retry history
        answered = {t.target for t in snapshot.client_jmx}
        keep = {key for key in self.retries.seen if key[0] not in answered}
        self.retries.forget_all_but(keep | {(c.target, c.client_id) for c in clients if c.kind == "producer"})

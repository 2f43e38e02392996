"""Derived gauges from librdkafka client statistics (pure: reads the snapshot, no I/O).

* Producer reordering risk (P2) for librdkafka-based producers: ``enable.idempotence``
  defaults to false in librdkafka, with up to 1,000,000 requests in flight and retries on,
  so a retried batch can land after a later one.  The declared settings come from the
  forwarder's envelope; without them (bare statistics) idempotence is read from the
  statistics' ``eos`` section (present only for idempotent/transactional producers) and
  in-flight/retries are librdkafka's defaults — ``settings_source`` says which.
* Consumers beyond the log end (P3): a consumer's furthest offset (position, fetch
  offset, stored or committed) compared with the partition's log end offset from the
  Admin API in the same cycle.  The statistics are snapshot when the cycle starts, before
  the Admin API reads the log end, and were emitted earlier still, so a consumer that
  simply moves on cannot raise it: only a log end that went backwards (acknowledged data
  lost) or an offset the application seeked to on its own can.  This covers consumers
  that keep their offsets outside Kafka, which the committed-offset view cannot see.
* Position lag: log end offset (Admin API) minus the consumer's position, for the same
  consumers, in messages and in seconds.  Lag seconds interpolate the time at which the
  log end was at the consumer's position, from a short (time, log end offset) history
  of the partitions that librdkafka consumers read (:class:`~exporter.interpret.history.
  PartitionHistory`, ``interpretation.lag_history_points`` points, about 2.2 KB per
  partition when full); partitions no consumer reports any more are dropped at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from exporter.config import InterpretationSection
from exporter.configbase import defaults
from exporter.interpret.history import PartitionHistory
from exporter.interpret.librdkafka_batches import emit_librdkafka_batches
from exporter.interpret.producers import topic_codecs
from exporter.metrics import Samples, metric
from exporter.sources.admin.records import ClusterState
from exporter.sources.client_stats.records import ClientStatsState
from exporter.sources.client_stats.specs import INSTANCE, PART

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.snapshot import Snapshot

LAYER = "interpret"

REORDERING_RISK = metric(
    "kafka_insight_librdkafka_producer_reordering_risk",
    "gauge",
    """1 if this librdkafka producer can write messages out of order when it retries:
    idempotence off (librdkafka's default!), more than one request in flight per connection
    (max.in.flight, default 1000000) and retries on (retries, default 2147483647), with
    acks other than 0. A failed batch retried after a later batch succeeded lands behind
    it. Fix: enable.idempotence=true (or max.in.flight=1). settings_source="declared" when
    the application forwarded its settings with the exporter's forwarder; "statistics"
    when only the statistics are known: idempotence is then read from their eos section
    and in-flight/retries are assumed to be librdkafka's defaults. basis says the same in
    the words of the Java producers' verdict (kafka_insight_producer_reordering_risk):
    "declared" or "assumed_defaults". A declared transactional.id means idempotent.""",
    (*INSTANCE, "settings_source", "basis"),
    source=LAYER,
)
IDEMPOTENCE = metric(
    "kafka_insight_librdkafka_producer_idempotence_enabled",
    "gauge",
    """1 if the producer's statistics carry an eos section (librdkafka emits it only for
    idempotent or transactional producers) with a producer id assigned or pending, 0 if
    not: what the client actually runs with, whatever was declared.""",
    INSTANCE,
    source=LAYER,
)
SETTINGS_INFO = metric(
    "kafka_insight_librdkafka_producer_settings_info",
    "gauge",
    """Always 1; the producer settings that decide ordering, durability and batching, as
    the application declared them to the forwarder, or librdkafka's default where it did
    not declare one (settings_source="statistics": nothing declared, all defaults except
    enable_idempotence, which is observed). batch_size is librdkafka's batch.size (default
    1000000 bytes, unlike Java's 16384).""",
    (
        *INSTANCE,
        "settings_source",
        "enable_idempotence",
        "acks",
        "max_in_flight",
        "retries",
        "compression_type",
        "batch_size",
        "linger_ms",
    ),
    source=LAYER,
)
BEYOND_LOG_END = metric(
    "kafka_insight_librdkafka_consumer_beyond_log_end",
    "gauge",
    """1 if this consumer's furthest offset on the partition (the largest of its position
    app_offset, fetch offset next_offset, stored and committed offset, from its librdkafka
    statistics) is beyond the partition's log end offset (Admin API, read after the
    statistics), 0 if not. After a data loss (all replicas lost power, unclean election)
    the log end comes back lower; consumers that keep offsets outside Kafka then ask for
    offsets that no longer exist and will re-read or skip according to auto.offset.reset.
    Check what the application did with the gap; messages between log end and the
    consumer's offset are gone and new ones will reuse those offsets.""",
    PART,
    source=LAYER,
)
BEYOND_LOG_END_MESSAGES = metric(
    "kafka_insight_librdkafka_consumer_beyond_log_end_messages",
    "gauge",
    """By how many messages the consumer's furthest offset is beyond the partition's log
    end offset (0 when it is not): the size of the gap that new messages will reuse.""",
    PART,
    source=LAYER,
)
POSITION_LAG = metric(
    "kafka_insight_librdkafka_consumer_position_lag",
    "gauge",
    """Messages the consumer has not yet read: partition log end offset (Admin API, this
    cycle) minus the consumer's position (app_offset, else stored/committed/fetch offset,
    from its librdkafka statistics), never below 0. Works for consumers that keep their
    offsets outside Kafka, which have no committed-offset lag.""",
    PART,
    source=LAYER,
)


POSITION_LAG_SECONDS = metric(
    "kafka_insight_librdkafka_consumer_position_lag_seconds",
    "gauge",
    """How far behind the consumer is in time: when its statistics arrived, minus the
    time at which the partition's log end was at the consumer's position (interpolated
    from the log end offsets the Admin API saw in earlier cycles, between the last time
    the log end was below the position and the first time it was above it; accurate to
    about one collection interval), 0 when it has read everything. Absent until two cycles have seen
    the partition. Works for consumers that keep their offsets outside Kafka.""",
    PART,
    unit="seconds",
    source=LAYER,
)


class ClientStatsInterpreter:
    """Derived client-statistics gauges; keeps the log end history for lag seconds."""

    def __init__(self, points: int = defaults(InterpretationSection).lag_history_points) -> None:
        self.points = points
        self.history: dict[tuple[str, int], PartitionHistory] = {}

    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.client_stats
        if state is None:
            return
        derive(state, snapshot.admin, out, self.history, snapshot.started, self.points)


def build(config: Config) -> ClientStatsInterpreter:
    return ClientStatsInterpreter(config.interpretation.lag_history_points)


def interpret_client_stats(snapshot: Snapshot, out: Samples) -> None:
    """Stateless use (no lag seconds): for tests and one-off collections."""
    state = snapshot.client_stats
    if state is None:
        return
    derive(state, snapshot.admin, out)


def derive(
    state: ClientStatsState,
    cluster: ClusterState | None,
    out: Samples,
    history: dict[tuple[str, int], PartitionHistory] | None = None,
    now: float = 0.0,
    points: int = 60,
) -> None:
    """Derived samples from the client statistics and (optionally) the cluster state.

    With ``history`` (kept by the caller between cycles) the log end offsets of the
    partitions consumers read are recorded at ``now`` and lag seconds are derived.
    """
    read: set[tuple[str, int]] = set()
    codecs = topic_codecs(cluster)
    for inst in state.instances:
        ids = (inst.client_id, inst.instance)
        if inst.role == "producer":
            # P4/P5: compression savings and raw batch size, estimated from the statistics
            emit_librdkafka_batches(inst, inst.previous_totals, codecs, out)
            s = inst.producer_settings
            source = "declared" if s.declared else "statistics"
            out.add(REORDERING_RISK, 1 if s.can_reorder else 0, *ids, source, "declared" if s.declared else "assumed_defaults")
            out.add(IDEMPOTENCE, 1 if inst.producer_id is not None else 0, *ids)
            out.add(
                SETTINGS_INFO,
                1,
                *ids,
                source,
                "true" if s.idempotence else "false",
                s.acks,
                s.max_in_flight,
                s.retries,
                s.compression_type,
                s.batch_size,
                f"{s.linger_ms:g}",
            )
            continue
        if cluster is None:
            continue
        for p in inst.assigned_partitions:
            part = cluster.partition(p.topic, p.partition)
            if part is None or part.log_end_offset is None:
                continue
            labels = (*ids, inst.group, p.topic, p.partition)
            furthest = p.furthest_offset
            if furthest is not None:
                gap = max(0, furthest - part.log_end_offset)
                out.add(BEYOND_LOG_END, 1 if gap > 0 else 0, *labels)
                out.add(BEYOND_LOG_END_MESSAGES, gap, *labels)
            position = p.position
            if position is None:
                continue
            out.add(POSITION_LAG, max(0, part.log_end_offset - position), *labels)
            if history is None:
                continue
            key = (p.topic, p.partition)
            ph = history.get(key)
            topic_id = getattr(cluster.topics.get(p.topic), "topic_id", None)
            if ph is None or (topic_id is not None and ph.topic_id is not None and ph.topic_id != topic_id):
                ph = history[key] = PartitionHistory(points, topic_id)
            if key not in read:
                ph.observe(now, part.log_end_offset)
                read.add(key)
            if position >= part.log_end_offset:
                out.add(POSITION_LAG_SECONDS, 0, *labels)
                continue
            at = ph.time_at(position)
            if at is not None:
                out.add(POSITION_LAG_SECONDS, max(0.0, min(inst.timestamp, now) - at[0]), *labels)
    if history is not None and cluster is not None:
        for key in [k for k in history if k not in read]:
            del history[key]


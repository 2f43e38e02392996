"""ClusterState -> the Admin-API families (pure: also tested from recorded fixtures)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress, groupby

from exporter.exposition import render_text
from exporter.metrics import Batch, MetricSpec, RenderedBlock, Row, Samples, row_value, to_float
from exporter.sources.admin.records import GROUP_STATES, REQUESTS, ClusterState, Partition, Topic
from exporter.sources.admin.specs import (
    ADMIN_REQUEST_ERRORS,
    BROKER_INFO,
    BROKERS,
    CLUSTER_INFO,
    GROUP_COMMITTED,
    GROUP_INFO,
    GROUP_LAG,
    GROUP_MEMBERS,
    GROUP_PARTITION_LAG,
    GROUP_STATE,
    GROUP_TOPIC_LAG,
    PARTITION_ISR,
    PARTITION_LAST_STABLE,
    PARTITION_LEADER,
    PARTITION_LEADER_PREFERRED,
    PARTITION_LOG_END,
    PARTITION_LOG_START,
    PARTITION_REPLICAS,
    TOPIC_CONFIG_INFO,
    TOPIC_CONFIGS,
    TOPIC_CONFIGS_AGE,
    TOPIC_MIN_ISR,
    TOPIC_PARTITIONS,
    TOPIC_REPLICATION_FACTOR,
    TOPIC_RETENTION_BYTES,
    TOPIC_RETENTION_SECONDS,
    TOPIC_UNCLEAN,
    TOPICS_WITHOUT_CONFIGS,
)

#: the per-partition families, each over every topic, in the order they are exposed
PARTITION_FAMILIES: tuple[MetricSpec, ...] = (
    PARTITION_LEADER,
    PARTITION_LEADER_PREFERRED,
    PARTITION_REPLICAS,
    PARTITION_ISR,
    PARTITION_LOG_START,
    PARTITION_LOG_END,
    PARTITION_LAST_STABLE,
)


def render_block(state: ClusterState, group_partitions: bool = True) -> RenderedBlock:
    """The Admin-API families of ``state`` as a rendered block (the worker process's job)."""
    out = Samples()
    emit_cluster(state, out, group_partitions)
    return RenderedBlock(render_text(out), out.series_count(), tuple(spec.name for spec, _ in out), dict(out.dropped))


def emit_cluster(state: ClusterState, out: Samples, group_partitions: bool = True) -> None:
    """ClusterState -> samples.  Pure: tested from recorded fixtures too.

    ``group_partitions`` False: without the per group × partition families (committed
    offset, partition lag), for a state over the series budget
    (:meth:`ClusterState.over_budget`): the offsets interpretation emits the ones chosen.
    Three parts, in this order: the cluster, brokers and topics; the per-partition families,
    each over every topic; the request errors and the groups."""
    emit_topics(state, out)
    emit_partitions(state, out)
    emit_groups(state, out, group_partitions)


def emit_topics(state: ClusterState, out: Samples) -> None:
    """The cluster, its brokers and the topic-level families."""
    out.add(CLUSTER_INFO, 1, state.cluster_id)
    out.add(BROKERS, len(state.brokers))
    for b in state.brokers:
        out.add(BROKER_INFO, 1, b.id, b.host, b.port, b.rack or "")
    without_configs = 0
    for topic in state.topics.values():
        name = topic.name
        out.add(TOPIC_PARTITIONS, len(topic.partitions), name)
        out.add(TOPIC_REPLICATION_FACTOR, topic.replication_factor, name)
        if not _emit_configs(topic, state.collected_at, out):
            without_configs += 1
    out.add(TOPICS_WITHOUT_CONFIGS, without_configs)


def _known(values: list[int | None]) -> tuple[list[bool], list[int]]:
    mask = [value is not None for value in values]
    return mask, list(compress(values, mask))  # type: ignore[arg-type]


#: per-partition family -> (mask of the partitions that have a row or None for all, values)
_PARTITION_VALUES: dict[MetricSpec, Callable[[list[Partition]], tuple[list[bool] | None, list[int]]]] = {
    PARTITION_LEADER: lambda parts: (None, [p.leader for p in parts]),
    PARTITION_LEADER_PREFERRED: lambda parts: (
        None,
        [1 if p.leader >= 0 and p.leader == p.preferred_leader else 0 for p in parts],
    ),
    PARTITION_REPLICAS: lambda parts: (None, [len(p.replicas) for p in parts]),
    PARTITION_ISR: lambda parts: (None, [len(p.isr) for p in parts]),
    PARTITION_LOG_START: lambda parts: _known([p.log_start_offset for p in parts]),
    PARTITION_LOG_END: lambda parts: _known([p.log_end_offset for p in parts]),
    PARTITION_LAST_STABLE: lambda parts: _known(
        [
            p.last_stable_offset
            if p.log_end_offset is not None and p.last_stable_offset is not None and p.last_stable_offset < p.log_end_offset
            else None
            for p in parts
        ]
    ),
}


def emit_partitions(state: ClusterState, out: Samples) -> None:
    """The per-partition families (:data:`PARTITION_FAMILIES`), each over every topic."""
    keys: list[tuple[str, str]] = []
    parts: list[Partition] = []
    for topic in state.topics.values():
        name = topic.name
        keys += [(name, str(p.partition)) for p in topic.partitions]
        parts += topic.partitions
    for spec in PARTITION_FAMILIES:
        mask, values = _PARTITION_VALUES[spec](parts)
        out.extend_columns(spec, list(keys) if mask is None else list(compress(keys, mask)), values)


def _emit_configs(topic: Topic, collected_at: float, out: Samples) -> bool:
    """The topic's config families; False (and none of them) when its configs were never read."""
    configs = topic.configs
    if configs is None:
        return False
    if topic.configs_read_at is not None and collected_at:
        out.add(TOPIC_CONFIGS_AGE, max(0.0, collected_at - topic.configs_read_at), topic.name)
    for key in TOPIC_CONFIGS:
        cv = configs.get(key)
        if cv is not None and cv.value is not None:
            out.add(TOPIC_CONFIG_INFO, 1, topic.name, key, cv.value, cv.source, "true" if cv.explicit else "false")
    min_isr = configs.get("min.insync.replicas")
    out.add(TOPIC_MIN_ISR, min_isr.value if min_isr and min_isr.value else 1, topic.name)
    unclean = configs.get("unclean.leader.election.enable")
    if unclean is not None:
        out.add(TOPIC_UNCLEAN, 1 if (unclean.value or "").lower() == "true" else 0, topic.name)
    retention = configs.get("retention.ms")
    if retention is not None and retention.value is not None:
        ms = to_float(retention.value)  # garbage from the broker is dropped, never a crash of emit
        out.add(TOPIC_RETENTION_SECONDS, -1 if ms is not None and ms < 0 else (ms / 1000 if ms is not None else None), topic.name)
    retention_bytes = configs.get("retention.bytes")
    if retention_bytes is not None:
        out.add(TOPIC_RETENTION_BYTES, retention_bytes.value, topic.name)
    return True


def emit_groups(state: ClusterState, out: Samples, group_partitions: bool = True) -> None:
    """The request errors and the consumer groups."""
    for request in REQUESTS:
        out.add(ADMIN_REQUEST_ERRORS, state.request_errors.get(request, 0), request)
    index = state.partition_index() if any(g.committed for g in state.groups.values()) else {}
    with Batch(out) as batch:  # per-partition families: one extend per group, not an add per sample
        for group in state.groups.values():
            gid = group.group_id
            batch.extend(GROUP_STATE, [((gid, s), 1 if group.state == s else 0) for s in GROUP_STATES])
            out.add(
                GROUP_INFO,
                1,
                gid,
                group.type,
                "true" if group.simple else "false",
                "" if group.coordinator_id is None else group.coordinator_id,
            )
            out.add(GROUP_MEMBERS, len(group.members), gid)
            # offsets on partitions the state does not have (topic filtered out or deleted) are left out
            found = [(key, committed, part) for key, committed in sorted(group.committed.items()) if (part := index.get(key)) is not None]
            keys = [(gid, topic, str(pid)) for (topic, pid), _, _ in found]
            lags: list[Row] = [
                (k, leo - committed if leo > committed else 0)  # never below 0
                for k, (_, committed, part) in zip(keys, found, strict=True)
                if (leo := part.log_end_offset) is not None
            ]
            # a sum over partitions whose log end offset is missing this cycle would read as
            # lag going down: such sums are left out (topics without a lag for every partition)
            unknown = {topic for (topic, _), _, part in found if part.log_end_offset is None}
            if group_partitions:
                batch.extend_units(
                    keys,
                    (
                        (GROUP_COMMITTED, [(k, committed) for k, (_, committed, _) in zip(keys, found, strict=True)]),
                        (GROUP_PARTITION_LAG, lags),
                    ),
                )
            # lags are sorted by (topic, partition): one run per topic
            batch.extend(
                GROUP_TOPIC_LAG,
                [((gid, topic), sum(map(row_value, run))) for topic, run in groupby(lags, key=_topic_of) if topic not in unknown],
            )
            if not unknown:
                out.add(GROUP_LAG, sum(map(row_value, lags)), gid)


def _topic_of(row: Row) -> str:
    return row[0][1]

"""ClusterState -> the Admin-API families (pure: also tested from recorded fixtures)."""

from __future__ import annotations

from itertools import groupby

from exporter.exposition import render_text
from exporter.metrics import Batch, RenderedBlock, Row, Samples, row_value, to_float
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


def render_block(state: ClusterState, group_partitions: bool = True) -> RenderedBlock:
    """The Admin-API families of ``state`` as a rendered block (the worker process's job)."""
    out = Samples()
    emit_cluster(state, out, group_partitions)
    return RenderedBlock(render_text(out), out.series_count(), tuple(spec.name for spec, _ in out), dict(out.dropped))


def emit_cluster(state: ClusterState, out: Samples, group_partitions: bool = True) -> None:
    """ClusterState -> samples.  Pure: tested from recorded fixtures too.

    ``group_partitions`` False: without the per group × partition families (committed
    offset, partition lag), for a state over the series budget
    (:meth:`ClusterState.over_budget`): the offsets interpretation emits the ones chosen."""
    out.add(CLUSTER_INFO, 1, state.cluster_id)
    out.add(BROKERS, len(state.brokers))
    for b in state.brokers:
        out.add(BROKER_INFO, 1, b.id, b.host, b.port, b.rack or "")
    without_configs = 0
    with Batch(out) as batch:  # per-partition families: one extend per topic, not an add per sample
        for topic in state.topics.values():
            name = topic.name
            out.add(TOPIC_PARTITIONS, len(topic.partitions), name)
            out.add(TOPIC_REPLICATION_FACTOR, topic.replication_factor, name)
            if not _emit_configs(topic, state.collected_at, out):
                without_configs += 1
            if topic.partitions:
                _emit_partitions(name, topic.partitions, batch)
    out.add(TOPICS_WITHOUT_CONFIGS, without_configs)
    for request in REQUESTS:
        out.add(ADMIN_REQUEST_ERRORS, state.request_errors.get(request, 0), request)
    _emit_groups(state, out, group_partitions)


def _emit_partitions(name: str, parts: list[Partition], batch: Batch) -> None:
    keys = [(name, str(p.partition)) for p in parts]
    rows = list(zip(keys, parts, strict=True))
    batch.extend_units(
        keys,
        (
            (PARTITION_LEADER, [(k, p.leader) for k, p in rows]),
            (PARTITION_LEADER_PREFERRED, [(k, 1 if p.leader >= 0 and p.leader == p.preferred_leader else 0) for k, p in rows]),
            (PARTITION_REPLICAS, [(k, len(p.replicas)) for k, p in rows]),
            (PARTITION_ISR, [(k, len(p.isr)) for k, p in rows]),
            (PARTITION_LOG_START, [(k, p.log_start_offset) for k, p in rows if p.log_start_offset is not None]),
            (PARTITION_LOG_END, [(k, p.log_end_offset) for k, p in rows if p.log_end_offset is not None]),
            (
                PARTITION_LAST_STABLE,
                [
                    (k, p.last_stable_offset)
                    for k, p in rows
                    if p.log_end_offset is not None and p.last_stable_offset is not None and p.last_stable_offset != p.log_end_offset
                ],
            ),
        ),
    )


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


def _emit_groups(state: ClusterState, out: Samples, group_partitions: bool) -> None:
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

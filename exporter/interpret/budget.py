"""The series budget (issue 20): which per group × partition series a big cluster exposes.

A cluster with 50,000 partitions and 5,000 groups has 250,000 committed offsets; at about
five series each (committed offset, lag, lag in seconds, the beyond-log-end and
below-log-start flags) that is more than a Prometheus should take from one target.  Over
``series_budget.group_partitions`` (counted in committed offsets,
:meth:`~exporter.sources.admin.records.ClusterState.over_budget`), :func:`choose` keeps the
group partitions that matter most, in this order:

1. committed offset beyond the log end or below the log start (the P3 flags are 1): always,
   even past the limit - an alert on them must never miss one;
2. partitions with lag of groups that are ``stalled`` or ``stopped`` (their stuck partitions
   are what an operator looks for), largest lag in seconds first;
3. every other partition, largest lag in seconds first; an unknown lag in seconds (no history
   yet) counts as 0 s, and among equal ones the largest lag in messages comes first; ties by
   group, topic, partition, so the choice is stable.

The rest are summed up per group × topic (:data:`GROUP_TOPIC_LAG_SECONDS`,
:data:`GROUP_TOPIC_COMMITTED`, :data:`GROUP_TOPIC_AGGREGATED`; emitted for every group ×
topic, over the budget or not, so dashboards and alerts read them without gaps) and
:data:`DROPPED` counts the series left out per family.  Cluster, topic, partition and group
level families are never limited.

Pure and typed against the small protocols below, so it sits beneath the offsets
interpretation (:mod:`.offsets`), which computes the facts, calls :func:`choose` and emits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from exporter.metrics import metric

SRC = "interpret"
#: group statuses whose stuck partitions come right after the P3 flags
URGENT_STATUSES = ("stalled", "stopped")

GROUP_TOPIC_LAG_SECONDS = metric(
    "kafka_insight_consumer_group_topic_lag_seconds",
    "gauge",
    """Largest lag in seconds over the group's partitions of the topic (see
    kafka_insight_consumer_group_partition_lag_seconds): the age of the oldest message of
    the topic the group has not consumed. Present for every group and topic whatever the
    series budget left out per partition; compare with the topic's retention.""",
    ("group", "topic"),
    unit="seconds",
    source=SRC,
)
GROUP_TOPIC_COMMITTED = metric(
    "kafka_insight_consumer_group_topic_committed_offsets",
    "gauge",
    """Sum of the group's committed offsets over the topic's partitions
    (list_consumer_group_offsets): deriv() of it is the group's consumption rate on the
    topic in messages per second. Present for every group and topic whatever the series
    budget left out per partition.""",
    ("group", "topic"),
    source=SRC,
)
GROUP_TOPIC_AGGREGATED = metric(
    "kafka_insight_consumer_group_topic_aggregated_partitions",
    "gauge",
    """Partitions of the topic whose per group x partition series (committed offset, lag,
    lag in seconds, beyond-log-end/below-log-start flags) the series budget
    (series_budget.group_partitions) left out this cycle: they are counted only in the
    group x topic sums. 0: every partition is exposed. A partition whose committed offset
    is beyond the log end or below the log start is never left out.""",
    ("group", "topic"),
    source=SRC,
)
DROPPED = metric(
    "kafka_insight_series_budget_dropped_series",
    "gauge",
    """Series of the family left out this cycle by the series budget
    (series_budget.group_partitions; 0 when under it). Above 0: per group x partition
    detail is missing for the least urgent partitions (their sums per group x topic are
    still exposed). Raise the budget if Prometheus can take it, or narrow
    filters.groups.""",
    ("family",),
    source="self",
)


class PartitionView(Protocol):
    """What :func:`choose` reads of a group partition (``offsets.GroupPartitionFacts``)."""

    @property
    def lag(self) -> int | None: ...
    @property
    def lag_seconds(self) -> float | None: ...
    @property
    def beyond_by(self) -> int | None: ...
    @property
    def below_by(self) -> int | None: ...


class GroupView(Protocol):
    """What :func:`choose` reads of a group (``offsets.GroupFacts``)."""

    @property
    def status(self) -> str: ...
    @property
    def partitions(self) -> Sequence[PartitionView]: ...


def flagged(p: PartitionView) -> bool:
    """The P3 flags are 1: never left out."""
    return bool(p.beyond_by) or bool(p.below_by)


def choose(groups: Sequence[GroupView], limit: int) -> list[list[bool]] | None:
    """Per group (in the order given) and partition (in its order): kept in full or not.

    None when everything is kept (``limit`` 0, or not more group partitions than ``limit``).
    Flagged partitions (:func:`flagged`) are kept even past ``limit``."""
    total = sum(len(g.partitions) for g in groups)
    if limit <= 0 or total <= limit:
        return None
    keep = [[False] * len(g.partitions) for g in groups]
    candidates: list[tuple[int, float, int, int, int]] = []
    append = candidates.append
    used = 0
    for gi, g in enumerate(groups):
        urgent = g.status in URGENT_STATUSES
        row = keep[gi]
        for pi, p in enumerate(g.partitions):
            if p.beyond_by or p.below_by:
                row[pi] = True
                used += 1
                continue
            lag = p.lag or 0
            seconds = p.lag_seconds
            tier = 0 if urgent and lag > 0 else 1
            # sort ascending: tier, largest lag seconds first, then the unknown ones together
            # with the caught-up ones (0 s), largest lag in messages first among those
            append((tier, -seconds if seconds is not None else 0.0, -lag, gi, pi))
    room = limit - used
    if room <= 0:
        return keep
    if len(candidates) > room:
        candidates.sort()
        del candidates[room:]
    for _, _, _, gi, pi in candidates:
        keep[gi][pi] = True
    return keep

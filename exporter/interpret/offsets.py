"""P3 (power loss, lost data) and lag done properly: offsets read against each other and over time.

From each cycle's :class:`ClusterState` plus the bounded :class:`~.history.History`:

* committed offset beyond the log end / below the log start, per group and partition, with
  the distance in messages (only while it is not 0).  The Admin source reads committed offsets *before* log end
  offsets in every cycle, so a group that commits between the two reads can only look
  behind, never beyond: a committed offset beyond the log end is real (acknowledged data
  vanished, or someone set the offset by hand);
* log end offset regressions per partition (the log end went backwards between cycles);
  a topic deleted and created again under the same name is a new log, not a regression
  (recognised by its topic id when the source provides one, and by its absence from a
  cycle in any case);
* forced flush configured per topic (runbook information, not an alarm);
* lag in seconds by interpolating the log end offset history (kafka-lag-exporter's
  approach) and a Burrow-style status per group: ok, lagging, stalled, stopped, rewound.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from itertools import compress, groupby
from operator import attrgetter
from typing import TYPE_CHECKING

from exporter.config import InterpretationSection, SeriesBudgetSection
from exporter.configbase import defaults
from exporter.interpret import budget
from exporter.interpret.history import CommitHistory, GroupHistory, History
from exporter.interpret.offsets_specs import (
    BELOW_START,
    BELOW_START_MESSAGES,
    BEYOND_END,
    BEYOND_END_MESSAGES,
    CLUSTER_BELOW_START,
    CLUSTER_BEYOND_END,
    CLUSTER_REGRESSIONS,
    FLUSH_FORCED,
    GROUP_LAG_SECONDS,
    GROUP_REWINDS,
    GROUP_STATUS,
    LAG_SECONDS,
    REGRESSED_MESSAGES,
    REGRESSIONS,
)
from exporter.metrics import Batch, MetricSpec, Row, Samples
from exporter.sources.admin.records import ClusterState, ConsumerGroup, Partition, Topic
from exporter.sources.admin.specs import GROUP_COMMITTED, GROUP_PARTITION_LAG

if TYPE_CHECKING:
    from exporter.snapshot import Snapshot

log = logging.getLogger(__name__)

#: Kafka's "never force a flush" value of flush.messages and flush.ms (Long.MAX_VALUE)
NEVER = 2**63 - 1
#: group states in which members are (or are about to be) consuming
ACTIVE_STATES = ("STABLE", "PREPARING_REBALANCE", "COMPLETING_REBALANCE", "ASSIGNING", "RECONCILING")
#: Burrow-style statuses, most urgent first: a group is in exactly one of them
GROUP_STATUSES = ("rewound", "stopped", "stalled", "lagging", "ok")

# -- settings --------------------------------------------------------------------------
#: the ``interpretation`` section's defaults (declared there, once)
_DEFAULTS = defaults(InterpretationSection)


@dataclass(frozen=True)
class OffsetSettings:
    #: points of log end offset history per partition (bounds memory)
    history_points: int = _DEFAULTS.lag_history_points
    #: a committed offset unchanged this long, with lag and members, is stalled
    stalled_after: float = _DEFAULTS.stalled_after_seconds
    #: lag in seconds above this is lagging
    lagging_after: float = _DEFAULTS.lagging_after_seconds
    #: the sliding window of commits the status is judged over (stopped needs all of it)
    status_window: float = _DEFAULTS.group_status_window_seconds

    @classmethod
    def of(cls, section: InterpretationSection) -> OffsetSettings:
        return cls(
            section.lag_history_points,
            section.stalled_after_seconds,
            section.lagging_after_seconds,
            section.group_status_window_seconds,
        )


# -- pure computation over (state, history) --------------------------------------------
@dataclass(slots=True)  # one per group partition: 250,000 at 50k partitions / 5k groups
class GroupPartitionFacts:
    topic: str
    partition: int
    committed: int
    lag: int | None
    lag_seconds: float | None
    beyond_by: int | None
    below_by: int | None
    rewound: bool
    unchanged_for: float
    #: how long the partition has had lag > 0 without its committed offset moving (0 without lag)
    stuck_for: float = 0.0
    #: the committed offset moved forward at some cycle (unchanged_for counts from then)
    moved: bool = False


@dataclass
class GroupFacts:
    group: str
    status: str
    partitions: list[GroupPartitionFacts] = field(default_factory=list)

    @property
    def lag_seconds(self) -> float | None:
        values = [p.lag_seconds for p in self.partitions if p.lag_seconds is not None]
        return max(values) if values else None


@dataclass(slots=True)
class PartitionFacts:
    topic: str
    partition: int
    regressed_by: int
    regressions: int
    regressed_messages: int


@dataclass
class OffsetFacts:
    partitions: list[PartitionFacts]
    groups: list[GroupFacts]
    flush_forced: dict[str, bool]
    regressions_total: int


def _forced(value: str | None) -> bool:
    try:
        return value is not None and 0 <= int(value) < NEVER
    except ValueError:
        return False


def update_partitions(state: ClusterState, history: History, now: float) -> list[PartitionFacts]:
    """Feed this cycle's log end offsets into the history; report regressions."""
    seen: set[tuple[str, int]] = set()
    facts = []
    for topic in state.topics.values():
        topic_id = topic.topic_id
        for p in topic.partitions:
            key = (p.topic, p.partition)
            seen.add(key)
            ph = history.partition(p.topic, p.partition, topic_id)
            regressed = 0
            if p.log_end_offset is not None:
                regressed = ph.observe(now, p.log_end_offset)
                if regressed:
                    history.regressions_total += 1
            facts.append(PartitionFacts(p.topic, p.partition, regressed, ph.regressions, ph.regressed_messages))
    for gone in set(history.partitions) - seen:
        del history.partitions[gone]
    return facts


def group_facts(
    state: ClusterState,
    group: ConsumerGroup,
    history: History,
    now: float,
    settings: OffsetSettings,
    index: dict[tuple[str, int], Partition] | None = None,
) -> GroupFacts:
    """``index``: ``state.partition_index()``, built once for all groups of a cycle."""
    gid = group.group_id
    facts = GroupFacts(gid, "ok")
    append = facts.partitions.append
    commits, partitions = history.commits, history.partitions
    for key, committed in sorted(group.committed.items()):
        part = index.get(key) if index is not None else state.partition(*key)
        if part is None:
            continue  # topic filtered out or deleted
        topic, pid = key
        ckey = (gid, topic, pid)
        ch = commits.get(ckey)
        rewound = False
        if ch is None:
            ch = commits[ckey] = CommitHistory(committed, now)
        elif committed != ch.offset:
            rewound = committed < ch.offset
            ch.offset, ch.since, ch.moved = committed, now, not rewound
        leo, start = part.log_end_offset, part.log_start_offset
        lag = None if leo is None else (leo - committed if leo > committed else 0)
        lag_seconds = None
        if lag == 0:
            lag_seconds = 0.0
        elif lag is not None:
            ph = partitions.get(key)
            when = ph.time_at(committed) if ph is not None else None
            lag_seconds = None if when is None else max(0.0, now - when[0])
        unchanged_for = now - ch.since
        # no progress only while there was something to read: not longer than the oldest
        # unread message's age (a consumer idle on a quiet topic is not stuck)
        stuck_for = 0.0 if not lag else unchanged_for if lag_seconds is None else min(unchanged_for, lag_seconds)
        append(
            GroupPartitionFacts(
                topic,
                pid,
                committed,
                lag,
                lag_seconds,
                None if leo is None else (committed - leo if committed > leo else 0),
                None if start is None else (start - committed if start > committed else 0),
                rewound,
                unchanged_for,
                stuck_for,
                ch.moved,
            )
        )
    gh = history.groups.get(gid)
    if gh is None:
        gh = history.groups[gid] = GroupHistory()
    facts.status = group_status(group, facts, settings, gh, now)
    return facts


def group_status(group: ConsumerGroup, facts: GroupFacts, settings: OffsetSettings, gh: GroupHistory, now: float) -> str:
    """Burrow's evaluation over a sliding window, with what the Admin API shows.

    Burrow reads every commit from __consumer_offsets; polling committed offsets only shows
    whether they MOVED.  So progress is "a committed offset moved", and whether a consumer
    is alive but stuck (stalled) or gone (stopped) is told by members seen within the
    window, not in this very cycle: a crash-looping consumer, present in some cycles and
    not in others, stays stalled instead of flipping, and a consumer that uses assign()
    (never a member) is stopped only after a whole window without progress.
    """
    window = settings.status_window
    if bool(group.members) or group.state in ACTIVE_STATES:
        gh.members_seen = now
    members_recent = gh.members_seen is not None and now - gh.members_seen < window
    parts = facts.partitions
    lags = [p.lag for p in parts if p.lag is not None]
    growing = gh.lag_not_shrinking(now, float(sum(lags)), window) if lags else None
    if any(p.rewound for p in parts):
        return "rewound"
    if not members_recent and any(p.lag and p.stuck_for >= window for p in parts):
        return "stopped"
    if members_recent and any(p.lag and p.stuck_for >= settings.stalled_after for p in parts):
        return "stalled"
    progressed = any(p.moved and p.unchanged_for < window for p in parts)
    lag_seconds = facts.lag_seconds
    if progressed and growing and lag_seconds is not None and lag_seconds >= settings.lagging_after:
        return "lagging"
    return "ok"


def analyse(state: ClusterState, history: History, now: float, settings: OffsetSettings) -> OffsetFacts:
    """One cycle: update the history with ``state`` observed at ``now``; return the facts."""
    partitions = update_partitions(state, history, now)
    index = state.partition_index() if any(g.committed for g in state.groups.values()) else None
    groups = [group_facts(state, g, history, now, settings, index) for g in state.groups.values()]
    if not groups_incomplete(state):
        # forget groups and partitions that are gone; keep them while the listing failed,
        # so a transient error does not restart stalled timers or reset rewind counters.
        # Every fact's key is in history.commits (group_facts puts it there), one key per
        # fact while group ids differ: same count, nothing is gone (spares a 50k-key set)
        facts_count = sum(len(g.partitions) for g in groups)
        if facts_count != len(history.commits) or len({g.group for g in groups}) != len(groups):
            seen = {(g.group, p.topic, p.partition) for g in groups for p in g.partitions}
            for gone in set(history.commits) - seen:
                del history.commits[gone]
        present = {g.group for g in groups}
        for gone_group in set(history.rewinds) - present:
            del history.rewinds[gone_group]
        for gone_group in set(history.groups) - present:
            del history.groups[gone_group]
    for g in groups:
        if any(p.rewound for p in g.partitions):
            history.rewinds[g.group] = history.rewinds.get(g.group, 0) + 1
    flush = {name: _forced(_config(t, "flush.messages")) or _forced(_config(t, "flush.ms")) for name, t in state.topics.items()}
    return OffsetFacts(partitions, groups, flush, history.regressions_total)


#: error prefixes of the Admin source that mean some groups or their offsets are missing this cycle
GROUP_ERRORS = ("list_consumer_groups", "describe_consumer_groups", "list_consumer_group_offsets")


def groups_incomplete(state: ClusterState) -> bool:
    return any(e.startswith(GROUP_ERRORS) for e in state.errors)


def _config(topic: Topic, key: str) -> str | None:
    cv = (topic.configs or {}).get(key)  # None: never read
    return cv.value if cv is not None else None


def emit_offsets(
    facts: OffsetFacts,
    history: History,
    out: Samples,
    keep: list[list[bool]] | None = None,
    admin_rows: bool = False,
) -> None:
    """``keep``: :func:`budget.choose`'s answer (None: every group partition in full);
    ``admin_rows``: also the Admin-API per group x partition families (committed offset,
    partition lag), which the Admin-API source leaves out of a state over the budget."""
    for spec in (BEYOND_END, BEYOND_END_MESSAGES, BELOW_START, BELOW_START_MESSAGES, GROUP_STATUS, REGRESSIONS):
        out.declare(spec)
    parts = facts.partitions
    keys = [(pf.topic, str(pf.partition)) for pf in parts]
    out.extend(REGRESSIONS, [(k, pf.regressions) for k, pf in zip(keys, parts, strict=True)])
    out.extend(REGRESSED_MESSAGES, [(k, pf.regressed_messages) for k, pf in zip(keys, parts, strict=True)])
    out.add(CLUSTER_REGRESSIONS, facts.regressions_total)
    out.extend(FLUSH_FORCED, [((topic,), 1 if forced else 0) for topic, forced in facts.flush_forced.items()])
    beyond = below = 0
    dropped = dict.fromkeys(BUDGETED, 0)
    with Batch(out) as batch:  # per-partition families: one extend per group, not an add per sample
        for gi, g in enumerate(facts.groups):
            gid = g.group
            every = g.partitions
            kept = keep[gi] if keep is not None else None
            gps = every if kept is None or all(kept) else list(compress(every, kept))
            if len(gps) != len(every):
                _count_left_out(every, kept, dropped)
            labels = [(gid, p.topic, str(p.partition)) for p in gps]
            rows = list(zip(labels, gps, strict=True))
            # the 0/1 flags for every group partition whose log end/start is known; the
            # distances only where they are not 0 (50,000 zeros at 500 groups otherwise)
            beyond_flags: list[Row] = [(k, 1 if p.beyond_by > 0 else 0) for k, p in rows if p.beyond_by is not None]
            below_flags: list[Row] = [(k, 1 if p.below_by > 0 else 0) for k, p in rows if p.below_by is not None]
            beyond_by: list[Row] = [(k, p.beyond_by) for k, p in rows if p.beyond_by]
            below_by: list[Row] = [(k, p.below_by) for k, p in rows if p.below_by]
            lag_seconds: list[Row] = [(k, p.lag_seconds) for k, p in rows if p.lag_seconds is not None]
            # flagged partitions are always kept (budget.choose): these counts cover them all
            beyond += len(beyond_by)
            below += len(below_by)
            families: list[tuple[MetricSpec, list[Row]]] = []
            if admin_rows:
                families.append((GROUP_COMMITTED, [(k, p.committed) for k, p in rows]))
                families.append((GROUP_PARTITION_LAG, [(k, p.lag) for k, p in rows if p.lag is not None]))
            families += (
                (BEYOND_END, beyond_flags),
                (BEYOND_END_MESSAGES, beyond_by),
                (BELOW_START, below_flags),
                (BELOW_START_MESSAGES, below_by),
                (LAG_SECONDS, lag_seconds),
            )
            batch.extend_units(labels, families)
            _emit_topic_sums(gid, every, kept, batch)
            group_lag = g.lag_seconds
            if group_lag is not None:
                out.add(GROUP_LAG_SECONDS, group_lag, gid)
            batch.extend(GROUP_STATUS, [((gid, status), 1 if g.status == status else 0) for status in GROUP_STATUSES])
            out.add(GROUP_REWINDS, history.rewinds.get(gid, 0), gid)
    out.add(CLUSTER_BEYOND_END, beyond)
    out.add(CLUSTER_BELOW_START, below)
    out.extend(budget.DROPPED, [((spec.name,), dropped[spec]) for spec in BUDGETED])


#: the per group x partition families the series budget may leave out (the distances are
#: only exposed where the flags are 1, and flagged partitions are never left out)
BUDGETED = (GROUP_COMMITTED, GROUP_PARTITION_LAG, LAG_SECONDS, BEYOND_END, BELOW_START)


def _count_left_out(every: list[GroupPartitionFacts], kept: list[bool] | None, dropped: dict[MetricSpec, int]) -> None:
    for p, k in zip(every, kept or (), strict=True):
        if k:
            continue
        dropped[GROUP_COMMITTED] += 1
        dropped[GROUP_PARTITION_LAG] += p.lag is not None
        dropped[LAG_SECONDS] += p.lag_seconds is not None
        dropped[BEYOND_END] += p.beyond_by is not None
        dropped[BELOW_START] += p.below_by is not None


_TOPIC = attrgetter("topic")


def _emit_topic_sums(gid: str, every: list[GroupPartitionFacts], kept: list[bool] | None, batch: Batch) -> None:
    """The per group x topic families (over all partitions, kept or not: a group's facts are
    sorted by topic and partition, one run per topic)."""
    committed: list[Row] = []
    seconds: list[Row] = []
    aggregated: list[Row] = []
    start = 0
    for topic, run in groupby(every, key=_TOPIC):
        ps = list(run)
        key = (gid, topic)
        committed.append((key, sum(p.committed for p in ps)))
        known = [p.lag_seconds for p in ps if p.lag_seconds is not None]
        if known:
            seconds.append((key, max(known)))
        aggregated.append((key, 0 if kept is None else len(ps) - sum(kept[start : start + len(ps)])))
        start += len(ps)
    batch.extend(budget.GROUP_TOPIC_COMMITTED, committed)
    batch.extend(budget.GROUP_TOPIC_LAG_SECONDS, seconds)
    batch.extend(budget.GROUP_TOPIC_AGGREGATED, aggregated)


class OffsetsInterpreter:
    """P3 and lag each cycle; owns the bounded :class:`History`; applies the series budget."""

    def __init__(self, settings: OffsetSettings | None = None, group_partitions: int | None = None) -> None:
        self.settings = settings or OffsetSettings()
        self.history = History(points=self.settings.history_points)
        #: series_budget.group_partitions (0: no limit)
        self.group_partitions = defaults(SeriesBudgetSection).group_partitions if group_partitions is None else group_partitions
        self._over_budget = False

    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        state = snapshot.admin
        if state is None:
            return  # the source is down: keep the history as it was
        facts = analyse(state, self.history, snapshot.started, self.settings)
        keep = budget.choose(facts.groups, self.group_partitions)
        self._say_budget(facts, keep)
        emit_offsets(facts, self.history, out, keep, admin_rows=state.over_budget(self.group_partitions))

    def _say_budget(self, facts: OffsetFacts, keep: list[list[bool]] | None) -> None:
        """One log line when the budget starts to leave series out, one when it stops."""
        if (keep is not None) == self._over_budget:
            return
        self._over_budget = keep is not None
        total = sum(len(g.partitions) for g in facts.groups)
        if keep is None:
            log.info("series budget: %d group partitions, all exposed again (series_budget.group_partitions=%d)", total, self.group_partitions)
            return
        kept = sum(map(sum, keep))
        log.warning(
            "series budget: %d group partitions over series_budget.group_partitions=%d: %d exposed in full, %d only in the "
            "per group x topic sums (kafka_insight_series_budget_dropped_series counts the series left out; said once)",
            total,
            self.group_partitions,
            kept,
            total - kept,
        )

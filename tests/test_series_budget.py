"""The series budget (issue 20): which per group x partition series are kept over it.

Every expectation below is written by hand from the scenario described next to it (which
partitions, which lag in seconds), never recomputed with the code under test.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import pytest

from exporter import config
from exporter.configbase import ConfigError
from exporter.exposition import render_text
from exporter.interpret.budget import choose
from exporter.interpret.offsets import OffsetSettings, OffsetsInterpreter
from exporter.metrics import RenderedBlock, Samples
from exporter.snapshot import Snapshot, TargetResult
from exporter.sources.admin.emit import render_block
from exporter.sources.admin.records import ClusterState, ConsumerGroup, GroupMember, Partition, Topic
from exporter.sources.admin.source import AdminSource


# -- the choice alone, on hand-made facts -----------------------------------------------------
@dataclass
class P:
    lag: int | None = 0
    lag_seconds: float | None = 0.0
    beyond_by: int | None = 0
    below_by: int | None = 0


@dataclass
class G:
    status: str = "ok"
    partitions: list[P] = field(default_factory=list)


def test_no_limit_or_under_it_keeps_everything() -> None:
    groups = [G(partitions=[P(), P()]), G(partitions=[P()])]
    assert choose(groups, 0) is None
    assert choose(groups, 3) is None
    assert choose(groups, 2) is not None


def test_largest_lag_seconds_first_unknown_last_then_lag_messages() -> None:
    groups = [
        G(partitions=[P(lag=5, lag_seconds=10.0), P(lag=9, lag_seconds=None), P(lag=1, lag_seconds=300.0)]),
        G(partitions=[P(lag=7, lag_seconds=None), P(lag=0, lag_seconds=0.0), P(lag=2, lag_seconds=20.0)]),
    ]
    # 300 s, 20 s, 10 s, then unknown and 0 s by lag in messages: 9, 7, then the caught-up one
    assert choose(groups, 3) == [[True, False, True], [False, False, True]]
    assert choose(groups, 4) == [[True, True, True], [False, False, True]]
    assert choose(groups, 5) == [[True, True, True], [True, False, True]]


def test_p3_flags_are_kept_even_past_the_limit() -> None:
    groups = [
        G(partitions=[P(beyond_by=3), P(lag=1, lag_seconds=999.0), P(below_by=2)]),
        G(partitions=[P(beyond_by=1), P(lag=5, lag_seconds=5000.0)]),
    ]
    # three flagged partitions, a limit of 1: all three stay, nothing else
    assert choose(groups, 1) == [[True, False, True], [True, False]]
    # one place left after the three: the largest lag in seconds
    assert choose(groups, 4) == [[True, False, True], [True, True]]


def test_stuck_partitions_of_stalled_and_stopped_groups_come_before_larger_lag() -> None:
    groups = [
        G("ok", [P(lag=100, lag_seconds=900.0), P(lag=100, lag_seconds=800.0)]),
        G("stalled", [P(lag=1, lag_seconds=60.0), P(lag=0, lag_seconds=0.0)]),
        G("stopped", [P(lag=2, lag_seconds=30.0)]),
        G("rewound", [P(lag=3, lag_seconds=10.0)]),
    ]
    # the stalled group's partition with lag (60 s) and the stopped one's (30 s) first; the stalled
    # group's caught-up partition is not stuck; then 900 s
    assert choose(groups, 3) == [[True, False], [True, False], [True], [False]]
    assert choose(groups, 2) == [[False, False], [True, False], [True], [False]]


# -- through the offsets interpretation and the Admin-API source ----------------------------
HUGE_PARTITIONS = 1000
BEYOND_PID = 777


def cluster(now: float) -> ClusterState:
    """Cycle at t=0: every log end is 10; at t=100: 20 (one record per 10 s per partition).

    ``huge`` (no members) commits 10 - pid % 10 on each of big's 1,000 partitions, so at t=100
    its lag is 10 + pid % 10 and its lag in seconds, extrapolated at 0.1 record/s from the
    first point (log end 10 at t=0), is 100 + 10 * (pid % 10); except partition 777, which
    commits 25 at t=100: beyond the log end (20) by 5.  ``stuck`` (a member, STABLE) sits at
    10 on small/0 since t=0 (lag 10 and 100 s at t=100: stalled after 50 s) and follows the
    log end on small/1 (caught up)."""
    leo = 10 if now < 50 else 20
    big = Topic("big", False, [Partition("big", i, 1, [1], [1], 0, leo, leo) for i in range(HUGE_PARTITIONS)], {})
    small = Topic("small", False, [Partition("small", i, 1, [1], [1], 0, leo, leo) for i in range(2)], {})
    committed = {("big", i): 10 - i % 10 for i in range(HUGE_PARTITIONS)}
    if now >= 50:
        committed[("big", BEYOND_PID)] = 25
    huge = ConsumerGroup("huge", "EMPTY", "CLASSIC", False, 1, [], committed)
    member = GroupMember("m1", "c1", "/127.0.0.1", [("small", 0), ("small", 1)])
    stuck = ConsumerGroup("stuck", "STABLE", "CLASSIC", False, 1, [member], {("small", 0): 10, ("small", 1): leo})
    return ClusterState("c", [], {"big": big, "small": small}, {"huge": huge, "stuck": stuck}, collected_at=now)


#: limit 150: partition 777 (beyond the log end) always; stuck's small/0 (stalled, 100 s) before
#: any larger lag; then big's pid % 10 == 9 (190 s, 100 partitions), then the first 48 of
#: pid % 10 == 8 (180 s) by partition
KEPT_BIG = {BEYOND_PID} | {9 + 10 * k for k in range(100)} | {8 + 10 * k for k in range(48)}
LIMIT = 150


class Reader:
    """The Admin-API worker's part without a process: the state, and the block it renders."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.now = 0.0
        self.state: ClusterState | None = None
        self.blocks = 0

    def collect(self) -> ClusterState:
        self.state = cluster(self.now)
        return copy.deepcopy(self.state)

    def block(self, timeout: float) -> RenderedBlock | None:
        assert self.state is not None
        self.blocks += 1
        return render_block(self.state, not self.state.over_budget(self.limit))

    def close(self) -> None:
        pass


SERIES = re.compile(r'^(kafka_insight_[a-z_]+)\{([^}]*)\} (\S+)$', re.M)


def exposed(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for name, labels, value in SERIES.findall(text):
        key = tuple(sorted(re.findall(r'([a-z_]+)="([^"]*)"', labels)))
        rows = found.setdefault(name, {})
        assert key not in rows, f"{name}{{{labels}}} exposed twice"
        rows[key] = float(value)
    return found


def run_two_cycles(limit: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Two cycles (t=0, t=100) as Collector.collect_once runs them, on the test's clock: the
    source collects, emits (its block rendered as the worker renders it), the offsets
    interpretation runs, the exposition is rendered."""
    cfg = config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:9", "series_budget.group_partitions": limit})
    reader = Reader(limit)
    source = AdminSource(cfg, reader)
    interpreter = OffsetsInterpreter(OffsetSettings(stalled_after=50), cfg.series_budget.group_partitions)
    text = b""
    for now in (0.0, 100.0):
        reader.now = now
        snapshot = Snapshot.of(now, [TargetResult("admin", "x", True, 0.0, source.collect())])
        out = Samples()
        source.emit(snapshot, out)
        interpreter(snapshot, out)
        text = render_text(out)
    assert reader.blocks == 2  # the worker's rendering was used, not the fallback
    return exposed(text.decode())


def partitions_of(rows: dict[tuple[tuple[str, str], ...], float], group: str, topic: str) -> set[int]:
    return {int(dict(k)["partition"]) for k in rows if dict(k)["group"] == group and dict(k)["topic"] == topic}


def test_over_the_budget_the_urgent_partitions_keep_their_series_and_the_rest_is_summed() -> None:
    m = run_two_cycles(LIMIT)
    for family in (
        "kafka_insight_consumer_group_committed_offset",
        "kafka_insight_consumer_group_partition_lag",
        "kafka_insight_consumer_group_partition_lag_seconds",
        "kafka_insight_consumer_group_offset_beyond_log_end",
        "kafka_insight_consumer_group_offset_below_log_start",
    ):
        rows = m[family]
        assert partitions_of(rows, "huge", "big") == KEPT_BIG, family
        assert partitions_of(rows, "stuck", "small") == {0}, family  # small/1 is caught up: left out
        # 1,002 group partitions, 150 kept: 852 left out of every one of these families
        assert m["kafka_insight_series_budget_dropped_series"][(("family", family),)] == 852, family
    # the beyond-log-end partition of the huge group is kept, with its flag and distance
    at_777 = (("group", "huge"), ("partition", str(BEYOND_PID)), ("topic", "big"))
    assert m["kafka_insight_consumer_group_offset_beyond_log_end"][at_777] == 1
    assert m["kafka_insight_consumer_group_offset_beyond_log_end_messages"][at_777] == 5
    assert m["kafka_insight_consumer_group_committed_offset"][at_777] == 25
    # a kept partition's values are the full ones: big/9 committed 1, lag 19, 190 s
    at_9 = (("group", "huge"), ("partition", "9"), ("topic", "big"))
    assert m["kafka_insight_consumer_group_committed_offset"][at_9] == 1
    assert m["kafka_insight_consumer_group_partition_lag"][at_9] == 19
    assert m["kafka_insight_consumer_group_partition_lag_seconds"][at_9] == 190
    # per group x topic, over all partitions: committed 100 * (10 + 9 + ... + 1) - 3 + 25
    huge_big = (("group", "huge"), ("topic", "big"))
    stuck_small = (("group", "stuck"), ("topic", "small"))
    assert m["kafka_insight_consumer_group_topic_committed_offsets"] == {huge_big: 5_522, stuck_small: 30}
    assert m["kafka_insight_consumer_group_topic_lag_seconds"] == {huge_big: 190, stuck_small: 100}
    assert m["kafka_insight_consumer_group_topic_aggregated_partitions"] == {huge_big: 851, stuck_small: 1}
    # group level is never limited: lag 100 * (10 + 11 + ... + 19) less 777's 17
    assert m["kafka_insight_consumer_group_status"][(("group", "stuck"), ("status", "stalled"))] == 1
    assert m["kafka_insight_consumer_group_lag"][(("group", "huge"),)] == 14_483


def test_under_the_budget_everything_is_exposed_once() -> None:
    m = run_two_cycles(100_000)
    assert len(m["kafka_insight_consumer_group_committed_offset"]) == HUGE_PARTITIONS + 2
    assert len(m["kafka_insight_consumer_group_partition_lag_seconds"]) == HUGE_PARTITIONS + 2
    assert set(m["kafka_insight_series_budget_dropped_series"].values()) == {0}
    assert set(m["kafka_insight_consumer_group_topic_aggregated_partitions"].values()) == {0}
    assert m["kafka_insight_consumer_group_topic_committed_offsets"][(("group", "huge"), ("topic", "big"))] == 5_522


def test_a_beyond_log_end_partition_in_a_huge_group_is_kept_at_the_smallest_budget() -> None:
    m = run_two_cycles(1)
    at_777 = (("group", "huge"), ("partition", str(BEYOND_PID)), ("topic", "big"))
    assert set(m["kafka_insight_consumer_group_offset_beyond_log_end"]) == {at_777}
    assert m["kafka_insight_consumer_group_offset_beyond_log_end"][at_777] == 1
    assert set(m["kafka_insight_consumer_group_committed_offset"]) == {at_777}
    assert m["kafka_insight_series_budget_dropped_series"][(("family", "kafka_insight_consumer_group_committed_offset"),)] == 1001


def test_the_log_says_it_once(caplog: pytest.LogCaptureFixture) -> None:
    interpreter = OffsetsInterpreter(OffsetSettings(), 10)
    with caplog.at_level("INFO", logger="exporter.interpret.offsets"):
        for now in (0.0, 100.0, 200.0):
            snapshot = Snapshot(now, admin=cluster(now))
            interpreter(snapshot, Samples())
    said = [r.getMessage() for r in caplog.records if "series budget" in r.getMessage()]
    assert len(said) == 1, said
    assert "1002 group partitions over series_budget.group_partitions=10" in said[0]


def test_budget_option_is_validated() -> None:
    assert config.load(None).series_budget.group_partitions == 100_000
    assert config.load(None, {"series_budget.group_partitions": 0}).series_budget.group_partitions == 0
    with pytest.raises(ConfigError, match=r"series_budget\.group_partitions"):
        config.load(None, {"series_budget.group_partitions": -1})

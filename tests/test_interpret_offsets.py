"""P3 (lost data) and lag gauges: recorded Kafka 4.0 fixtures plus successive hand-made snapshots.

Expected numbers come from tests/fixtures/README.md ("Consumer groups") or are written by
hand for the synthetic cycles below, never recomputed with the code under test.
"""

from __future__ import annotations

import copy

import pytest

from exporter.interpret.history import History, PartitionHistory
from exporter.interpret.offsets import GROUP_STATUSES, OffsetSettings, analyse, emit_offsets
from exporter.metrics import Samples
from exporter.sources.admin.records import ClusterState, ConfigValue, ConsumerGroup, GroupMember, Partition, Topic
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES

STATES = ("healthy", "broker3-down", "broker3-restarted")


def load(state: str) -> ClusterState:
    return load_metadata(FIXTURES / f"metadata-{state}.json")


class Cycles:
    """Feeds successive snapshots at chosen times, like the collector does."""

    def __init__(self, settings: OffsetSettings | None = None) -> None:
        self.settings = settings or OffsetSettings()
        self.history = History(points=self.settings.history_points)

    def run(self, state: ClusterState, now: float) -> Samples:
        out = Samples()
        emit_offsets(analyse(state, self.history, now, self.settings), self.history, out)
        return out


def status(out: Samples, group: str) -> str:
    states = {s: out.get("kafka_insight_consumer_group_status", group=group, status=s) for s in GROUP_STATUSES}
    assert sorted(states.values()) == [0, 0, 0, 0, 1], states  # exactly one status, all present
    return next(s for s, v in states.items() if v == 1)


# -- recorded cluster ---------------------------------------------------------------------
@pytest.mark.parametrize(("state", "beyond"), [("healthy", 1_000_000), ("broker3-down", 999_912), ("broker3-restarted", 999_912)])
def test_committed_beyond_log_end_from_fixtures(state: str, beyond: int) -> None:
    """analytics-lagging's durable-0 was set to log end + 1,000,000 (46841 -> 1046841)."""
    out = Cycles().run(load(state), 1000.0)
    labels = {"group": "analytics-lagging", "topic": "durable", "partition": "0"}
    assert out.get("kafka_insight_consumer_group_offset_beyond_log_end", **labels) == 1
    assert out.get("kafka_insight_consumer_group_offset_beyond_log_end_messages", **labels) == beyond
    other = {"group": "analytics-lagging", "topic": "durable", "partition": "1"}
    assert out.get("kafka_insight_consumer_group_offset_beyond_log_end", **other) == 0
    assert out.get("kafka_insight_consumer_group_offset_beyond_log_end_messages", **other) is None  # only while > 0
    assert out.get("kafka_insight_cluster_committed_offsets_beyond_log_end") == 1


@pytest.mark.parametrize("state", STATES)
def test_committed_below_log_start_from_fixtures(state: str) -> None:
    """audit-stale committed 100; delete_records moved risky-rf2-0/1's log start to 6748 and 6636."""
    out = Cycles().run(load(state), 1000.0)
    below = "kafka_insight_consumer_group_offset_below_log_start"
    assert out.get(below, group="audit-stale", topic="risky-rf2", partition="0") == 1
    assert out.get(below + "_messages", group="audit-stale", topic="risky-rf2", partition="0") == 6648
    assert out.get(below, group="audit-stale", topic="risky-rf2", partition="1") == 1
    assert out.get(below + "_messages", group="audit-stale", topic="risky-rf2", partition="1") == 6536
    assert out.get(below, group="audit-stale", topic="risky-rf2", partition="2") == 0
    assert out.get(below + "_messages", group="audit-stale", topic="risky-rf2", partition="2") is None  # only while > 0
    assert out.get("kafka_insight_cluster_committed_offsets_below_log_start") == 2
    # caught-up groups are neither
    assert out.get(below, group="billing-caught-up", topic="unclean", partition="0") == 0
    assert (
        out.get("kafka_insight_consumer_group_offset_beyond_log_end", group="billing-caught-up", topic="unclean", partition="0")
        == 0
    )


def test_flags_present_for_every_committed_partition() -> None:
    out = Cycles().run(load("healthy"), 1000.0)
    rows = next(rows for spec, rows in out if spec.name == "kafka_insight_consumer_group_offset_beyond_log_end")
    # live-tail 9, billing-caught-up 3, analytics-lagging 6, audit-stale 6, perf-consumer 6
    assert len(rows) == 30
    # the distances only where they are not 0: analytics-lagging's durable-0 beyond the end,
    # audit-stale's risky-rf2-0/1 below the start
    distances = {spec.name: rows for spec, rows in out if spec.name.endswith(("_log_end_messages", "_log_start_messages"))}
    assert distances == {
        "kafka_insight_consumer_group_offset_beyond_log_end_messages": [(("analytics-lagging", "durable", "0"), 1_000_000.0)],
        "kafka_insight_consumer_group_offset_below_log_start_messages": [
            (("audit-stale", "risky-rf2", "0"), 6648.0),
            (("audit-stale", "risky-rf2", "1"), 6536.0),
        ],
    }


def test_group_status_from_fixtures() -> None:
    cycles = Cycles()
    out = cycles.run(load("healthy"), 1000.0)
    # one look says nothing about progress: Empty groups with lag may be assign() consumers
    for group in ("live-tail", "billing-caught-up", "analytics-lagging", "audit-stale", "perf-consumer"):
        assert status(out, group) == "ok", group
    out = cycles.run(load("healthy"), 1599.0)  # 599 s without a commit: not yet the 600 s window
    assert status(out, "analytics-lagging") == "ok"
    out = cycles.run(load("healthy"), 1600.0)  # the whole default window without progress
    assert status(out, "live-tail") == "ok"  # Stable, caught up
    assert status(out, "billing-caught-up") == "ok"  # Empty, lag 0
    assert status(out, "analytics-lagging") == "stopped"  # Empty, lag 99,632
    assert status(out, "audit-stale") == "stopped"
    assert status(out, "perf-consumer") == "stopped"


def test_fixture_cycles_do_not_regress() -> None:
    cycles = Cycles()
    for i, state in enumerate(STATES):
        out = cycles.run(load(state), 1000.0 + 30 * i)
    assert out.get("kafka_insight_cluster_log_end_offset_regressions_total") == 0
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", topic="durable", partition="0") == 0
    # single-2 was offline (no offsets) in broker3-down: its history simply waited
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", topic="single", partition="2") == 0


# -- regressions ----------------------------------------------------------------------------
def with_log_end(state: ClusterState, topic: str, partition: int, offset: int) -> ClusterState:
    changed = copy.deepcopy(state)
    part = changed.partition(topic, partition)
    assert part is not None
    part.log_end_offset = offset
    return changed


def test_log_end_going_backwards_is_counted_once() -> None:
    healthy = load("healthy")  # durable-0 log end 46841
    cycles = Cycles()
    cycles.run(healthy, 0.0)
    lost = with_log_end(healthy, "durable", 0, 46741)
    out = cycles.run(lost, 30.0)
    key = {"topic": "durable", "partition": "0"}
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", **key) == 1
    assert out.get("kafka_insight_partition_log_end_offset_regressed_messages_total", **key) == 100
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", topic="durable", partition="1") == 0
    assert out.get("kafka_insight_cluster_log_end_offset_regressions_total") == 1
    # the log grows again from there: no further regression, the counter keeps its value
    out = cycles.run(with_log_end(healthy, "durable", 0, 46800), 60.0)
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", **key) == 1
    out = cycles.run(with_log_end(healthy, "durable", 0, 46000), 90.0)
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", **key) == 2
    assert out.get("kafka_insight_partition_log_end_offset_regressed_messages_total", **key) == 900
    assert out.get("kafka_insight_cluster_log_end_offset_regressions_total") == 2


def test_recreated_topic_is_not_a_regression() -> None:
    healthy = load("healthy")
    cycles = Cycles()
    cycles.run(healthy, 0.0)
    # deleted and created again between two cycles: new topic id, log end starts over
    recreated = with_log_end(healthy, "durable", 0, 5)
    recreated.topics["durable"].topic_id = "a-new-topic-id"
    out = cycles.run(recreated, 30.0)
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", topic="durable", partition="0") == 0
    assert out.get("kafka_insight_cluster_log_end_offset_regressions_total") == 0


def test_topic_absent_for_a_cycle_starts_a_new_history() -> None:
    """Without a topic id (a source that does not report it), absence from a cycle resets."""
    healthy = load("healthy")
    for topic in healthy.topics.values():
        topic.topic_id = None
    cycles = Cycles()
    cycles.run(healthy, 0.0)
    gone = copy.deepcopy(healthy)
    del gone.topics["durable"]
    out = cycles.run(gone, 30.0)
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", topic="durable", partition="0") is None
    assert ("durable", 0) not in cycles.history.partitions
    out = cycles.run(with_log_end(healthy, "durable", 0, 5), 60.0)
    assert out.get("kafka_insight_partition_log_end_offset_regressions_total", topic="durable", partition="0") == 0


# -- lag in seconds, group status (hand-made cycles) ---------------------------------------
def make_state(leo: int, committed: int | None, *, members: int = 1, start: int = 0, flush_ms: str | None = None) -> ClusterState:
    configs = {"flush.ms": ConfigValue(flush_ms, "DYNAMIC_TOPIC_CONFIG", True)} if flush_ms else {}
    topic = Topic("orders", False, [Partition("orders", 0, 1, [1], [1], start, leo, leo)], configs, "id-1")
    groups = {}
    if committed is not None:
        state = "STABLE" if members else "EMPTY"
        group_members = [GroupMember(f"m{i}", "app", "/10.0.0.1", [("orders", 0)]) for i in range(members)]
        groups["app"] = ConsumerGroup("app", state, "CLASSIC", False, 1, group_members, {("orders", 0): committed})
    return ClusterState("c1", [], {"orders": topic}, groups)


LAG = {"group": "app", "topic": "orders", "partition": "0"}


def test_lag_seconds_interpolates_the_log_end_history() -> None:
    cycles = Cycles()
    cycles.run(make_state(0, 0), 0.0)
    cycles.run(make_state(100, 0), 10.0)
    cycles.run(make_state(200, 0), 20.0)
    out = cycles.run(make_state(300, 150), 30.0)
    # the log end was at 150 at t = 15 (between (10, 100) and (20, 200)): 15 s ago
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(15.0)
    assert out.get("kafka_insight_consumer_group_lag_seconds", group="app") == pytest.approx(15.0)
    out = cycles.run(make_state(300, 300), 40.0)
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == 0


def test_lag_seconds_uses_the_last_time_of_a_flat_stretch() -> None:
    cycles = Cycles()
    for t in (0.0, 10.0, 20.0):
        cycles.run(make_state(100, 100), t)  # idle topic: one point whose time moves on
    assert len(cycles.history.partitions[("orders", 0)].offsets) == 1
    out = cycles.run(make_state(200, 100), 30.0)
    # the log end left 100 after t = 20 (the last time it was seen there): 10 s ago
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(10.0)


def test_lag_seconds_after_a_burst_then_quiet_is_the_age_of_the_burst() -> None:
    """Issue 13 item 2: 100 messages written between t = 0 and t = 10, then nothing for 90 s.

    The messages are between 90 and 100 s old whatever the exporter did meanwhile; moving
    the flat point's time to 'now' and interpolating into it made them look seconds old.
    """
    cycles = Cycles()
    cycles.run(make_state(0, 0), 0.0)
    cycles.run(make_state(100, 0), 10.0)  # the burst: 0 -> 100 after t = 0, by t = 10
    for t in range(20, 100, 10):
        cycles.run(make_state(100, 0), float(t))
    out = cycles.run(make_state(100, 99), 100.0)
    # offset 99 was written between t = 0 and t = 10: 0 + 99/100 * 10 = 9.9 -> 90.1 s ago
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(90.1)
    assert out.get("kafka_insight_consumer_group_lag_seconds", group="app") == pytest.approx(90.1)
    out = cycles.run(make_state(100, 50), 110.0)  # a rewind to the middle of the burst: 5 -> 105 s
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(105.0)


def test_lag_seconds_interpolates_from_the_last_time_at_the_lower_offset() -> None:
    """Flat at 0 until t = 20 (seen at 0, 10, 20), 200 first seen at t = 30, flat since."""
    cycles = Cycles()
    for t in (0.0, 10.0, 20.0):
        cycles.run(make_state(0, 0), t)
    for t in (30.0, 40.0, 50.0):
        cycles.run(make_state(200, 0), t)
    ph = cycles.history.partitions[("orders", 0)]
    assert (list(ph.offsets), list(ph.first), list(ph.last)) == ([0.0, 200.0], [0.0, 30.0], [20.0, 50.0])
    out = cycles.run(make_state(200, 50), 60.0)
    # offset 50: a quarter of the way from (last at 0: t = 20) to (first at 200: t = 30) -> 22.5 -> 37.5 s
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(37.5)


def test_lag_seconds_before_the_history_is_extrapolated_or_bounded() -> None:
    cycles = Cycles(OffsetSettings(history_points=3))
    out = cycles.run(make_state(1000, 400), 0.0)
    # one observation: nothing known about the age yet, so no sample (not a false 0)
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) is None
    out = cycles.run(make_state(1000, 400), 60.0)
    # still one point (flat): the age is at least the 60 s since the partition was first seen
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(60.0)
    for t, leo in ((70.0, 1100), (80.0, 1200), (90.0, 1300)):
        out = cycles.run(make_state(leo, 400), t)
    ph = cycles.history.partitions[("orders", 0)]
    assert list(ph.offsets) == [1100.0, 1200.0, 1300.0]  # capacity 3: oldest points dropped
    # 10 offsets/s over the history: offset 400 is 70 s before (70, 1100) -> t = 0 -> 90 s
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(90.0)


WINDOWED = OffsetSettings(stalled_after=60.0, lagging_after=20.0, status_window=120.0)


def test_stalled_stopped_lagging_rewound() -> None:
    cycles = Cycles(WINDOWED)
    # a member consumes but falls behind: it commits, its lag grows, lag seconds pass 20 s
    cycles.run(make_state(0, None), 0.0)
    out = cycles.run(make_state(100, 50), 10.0)
    assert status(out, "app") == "ok"  # offset 50 was the log end at t = 5: 5 s
    out = cycles.run(make_state(300, 70), 30.0)
    assert status(out, "app") == "ok"  # 70 at t = 7: 23 s, but no trend yet (a fifth of the window: 24 s)
    out = cycles.run(make_state(400, 80), 40.0)
    assert status(out, "app") == "lagging"  # 32 s behind; total lag 50 (t = 10) -> 320
    # the committed offset stops moving at t = 40 with lag > 0 and the member still there
    out = cycles.run(make_state(500, 80), 60.0)
    assert status(out, "app") == "lagging"  # no progress for 20 s only
    out = cycles.run(make_state(600, 80), 100.0)
    assert status(out, "app") == "stalled"  # no progress for 60 s, the member was seen
    # the member leaves: still stalled while it was seen within the window (t = 100 + 120)
    out = cycles.run(make_state(600, 80, members=0), 110.0)
    assert status(out, "app") == "stalled"
    out = cycles.run(make_state(600, 80, members=0), 219.0)
    assert status(out, "app") == "stalled"
    out = cycles.run(make_state(600, 80, members=0), 220.0)
    assert status(out, "app") == "stopped"  # no member for the window, no progress for 180 s
    assert out.get("kafka_insight_consumer_group_rewinds_total", group="app") == 0
    # someone resets the offset backwards -> rewound, for that cycle, and counted
    out = cycles.run(make_state(600, 10, members=0), 230.0)
    assert status(out, "app") == "rewound"
    assert out.get("kafka_insight_consumer_group_rewinds_total", group="app") == 1
    out = cycles.run(make_state(600, 600), 240.0)
    assert status(out, "app") == "ok"
    assert out.get("kafka_insight_consumer_group_rewinds_total", group="app") == 1


def test_assign_consumer_that_commits_is_never_stopped() -> None:
    """assign() + commitSync (Flink, Spark, custom apps): no members ever, commits every cycle."""
    cycles = Cycles(WINDOWED)
    cycles.run(make_state(0, None, members=0), 0.0)
    seen = []
    for t in range(30, 631, 30):  # 10 msg/s written, the consumer 100 behind: 10 s of lag
        out = cycles.run(make_state(10 * t, 10 * t - 100, members=0), float(t))
        assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(10.0)
        seen.append(status(out, "app"))
    assert seen == ["ok"] * 21  # old rule (no members + lag = stopped): stopped in every cycle
    # its commits stop at 6200 (t = 630): stopped once the whole 120 s window passed without progress
    out = cycles.run(make_state(7200, 6200, members=0), 720.0)
    assert status(out, "app") != "stopped"  # 90 s without progress
    out = cycles.run(make_state(7500, 6200, members=0), 750.0)
    assert status(out, "app") == "stopped"


def test_crash_looping_consumer_keeps_one_status() -> None:
    """A member that joins, dies on the same message and comes back: present in every other cycle."""
    cycles = Cycles(WINDOWED)
    seen = []
    for i, t in enumerate(range(0, 601, 30)):
        out = cycles.run(make_state(100 + 10 * t, 70, members=1 - i % 2), float(t))
        seen.append(status(out, "app"))
    # no progress since t = 0; the message at 70 was written before it: stuck for 60 s at t = 60
    assert seen == ["ok", "ok"] + ["stalled"] * 19  # old rule: stalled and stopped by turns


def test_a_consumer_catching_up_is_not_lagging() -> None:
    cycles = Cycles(WINDOWED)
    cycles.run(make_state(0, None), 0.0)  # 10 msg/s from t = 0; the group appears at t = 30
    out = cycles.run(make_state(300, 0), 30.0)
    assert status(out, "app") == "ok"  # 30 s behind, but one look shows no trend
    out = cycles.run(make_state(600, 100), 60.0)
    assert status(out, "app") == "lagging"  # lag 300 -> 500 messages; offset 100 is 50 s old
    out = cycles.run(make_state(900, 700), 90.0)
    # lag 500 -> 200 (below the 300 at the window start): catching up, though 20 s behind
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(20.0)
    assert status(out, "app") == "ok"


def test_an_idle_consumer_on_a_quiet_topic_is_not_stalled_by_one_new_message() -> None:
    cycles = Cycles(WINDOWED)
    for t in range(0, 301, 30):
        out = cycles.run(make_state(100, 100), float(t))  # caught up, nothing written for 300 s
    assert status(out, "app") == "ok"
    out = cycles.run(make_state(101, 100), 310.0)
    # one message written after t = 300: the offset has not moved for 310 s, but there was
    # nothing to read until 10 s ago
    assert out.get("kafka_insight_consumer_group_partition_lag_seconds", **LAG) == pytest.approx(10.0)
    assert status(out, "app") == "ok"
    out = cycles.run(make_state(101, 100), 370.0)
    assert status(out, "app") == "stalled"  # now 70 s with something to read and no progress


def test_flush_forced_is_information() -> None:
    out = Cycles().run(make_state(1, 1, flush_ms="1000"), 0.0)
    assert out.get("kafka_insight_topic_flush_forced", topic="orders") == 1
    out = Cycles().run(make_state(1, 1, flush_ms=str(2**63 - 1)), 0.0)
    assert out.get("kafka_insight_topic_flush_forced", topic="orders") == 0
    healthy = Cycles().run(load("healthy"), 0.0)  # every recorded topic keeps Kafka's default
    assert healthy.get("kafka_insight_topic_flush_forced", topic="durable") == 0


def test_history_is_bounded_and_forgets() -> None:
    ph = PartitionHistory(capacity=5)
    for i in range(100):
        ph.observe(float(i), i * 10)
    assert len(ph.offsets) == len(ph.first) == len(ph.last) == 5
    cycles = Cycles()
    cycles.run(make_state(10, 5), 0.0)
    assert cycles.history.size() == (1, 1, 1)
    cycles.run(make_state(10, None), 10.0)  # the group is gone
    assert cycles.history.size() == (1, 1, 0)


def test_thresholds_come_from_the_config() -> None:
    from exporter import config

    cfg = config.load(None, {"interpretation.stalled_after_seconds": 120, "interpretation.lag_history_points": 10})
    assert OffsetSettings.of(cfg.interpretation) == OffsetSettings(history_points=10, stalled_after=120.0, lagging_after=60.0)
    cfg = config.load(None, {"interpretation.group_status_window_seconds": "900"})
    assert OffsetSettings.of(cfg.interpretation).status_window == 900.0
    assert OffsetSettings.of(config.load(None, {}).interpretation).status_window == 600.0  # the schema's default
    with pytest.raises(config.ConfigError, match=r"^interpretation.lag_history_points: 1 is out of range"):
        config.load(None, {"interpretation.lag_history_points": 1})


def test_status_window_from_flag_and_environment() -> None:
    from exporter import cli, config

    def window(argv: list[str], environ: dict[str, str]) -> float:
        cfg = config.load(None, cli.overrides(cli.parser().parse_args(argv), environ))
        return OffsetSettings.of(cfg.interpretation).status_window

    assert window(["--interpretation.group-status-window", "300"], {}) == 300.0
    assert window([], {"KAFKA_INSIGHT_GROUP_STATUS_WINDOW": "450"}) == 450.0
    assert window(["--interpretation.group-status-window", "300"], {"KAFKA_INSIGHT_GROUP_STATUS_WINDOW": "450"}) == 300.0
    with pytest.raises(config.ConfigError, match=r"^interpretation.group_status_window_seconds: "):
        window([], {"KAFKA_INSIGHT_GROUP_STATUS_WINDOW": "0"})


def test_a_failed_group_listing_keeps_the_group_history() -> None:
    settings = OffsetSettings(stalled_after=60.0)
    cycles = Cycles(settings)
    cycles.run(make_state(100, 50), 0.0)
    failed = make_state(100, 50)
    failed.groups = {}
    failed.errors.append("list_consumer_group_offsets app: KafkaError: timed out")
    cycles.run(failed, 30.0)
    assert cycles.history.size()[2] == 1  # kept: the group is not gone, the listing failed
    out = cycles.run(make_state(100, 50), 60.0)
    assert status(out, "app") == "stalled"  # unchanged since t = 0, across the failed cycle
    gone = make_state(100, 50)
    gone.groups = {}
    cycles.run(gone, 90.0)
    assert cycles.history.size()[2] == 0  # a clean listing without it: forgotten

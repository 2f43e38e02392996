"""The typed Snapshot: each source kind's payloads land in its own field (exporter/snapshot.py)."""

from __future__ import annotations

from exporter.snapshot import Snapshot, TargetResult
from exporter.sources.admin.records import ClusterState
from exporter.sources.client_stats.records import ClientStatsState
from exporter.sources.jmx.broker_records import BrokerJmx
from exporter.sources.jmx.client_records import ClientJmxTarget


def test_payloads_land_in_their_fields_and_failed_targets_in_none() -> None:
    state = ClusterState("c", [], {}, {}, [])
    b1, b2 = BrokerJmx("b1:9999"), BrokerJmx("b2:9999")
    client = ClientJmxTarget("app")
    stats = ClientStatsState("t", [], {}, 0, 10)
    snap = Snapshot.of(
        5.0,
        [
            TargetResult("admin", "s", True, 0.1, state),
            TargetResult("broker_jmx", "b1:9999", True, 0.1, b1),
            TargetResult("broker_jmx", "b3:9999", False, 8.0, error="timed out"),
            TargetResult("broker_jmx", "b2:9999", True, 0.1, b2),
            TargetResult("client_jmx", "app", True, 0.1, client),
            TargetResult("client_stats", "t", True, 0.0, stats),
            TargetResult("other", "x", True, 0.0, 42),
        ],
    )
    assert snap.started == 5.0
    assert snap.admin is state
    assert snap.broker_jmx == [b1, b2]  # in target order, the failed one left out
    assert snap.client_jmx == [client]
    assert snap.client_stats is stats
    assert snap.payloads("other") == [42]  # a source without a field of its own
    assert len(snap.results) == 7


def test_a_failed_source_leaves_its_field_empty_and_a_wrong_payload_is_not_taken() -> None:
    snap = Snapshot.of(
        0.0,
        [
            TargetResult("admin", "s", False, 20.0, error="timed out"),
            TargetResult("client_stats", "t", True, 0.0, {"not": "a state"}),
            TargetResult("broker_jmx", "b1", True, 0.0, "garbage"),
        ],
    )
    assert snap.admin is None and snap.client_stats is None and snap.broker_jmx == []
    assert [r.up for r in snap.results] == [False, True, True]

"""Findings (issue 15): the recorded real-Kafka states through the exporter's own pipeline.

The recorded metadata (``tests/fixtures``: healthy, node 3 killed, node 3 restarted) replaces
only the Admin-API call; the collector, interpreters and findings are the real ones.  The
expected findings are worked out by hand from the recorded topics (fixtures/README.md):
``durable`` RF 3 / min ISR 2, ``risky-rf2`` RF 2 / min ISR 1, ``single`` RF 1, ``unclean``
RF 3 / min ISR 2 with unclean election, ``strict`` RF 3 / min ISR 3, ``compacted`` RF 3 /
min ISR 2, ``minisr-over-rf`` RF 2 / min ISR 3 (effective 2); racks r1..r3.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from exporter import config
from exporter.app import build_collector
from exporter.cycle import Collector
from exporter.findings_page import render_json, render_page, runbook_page
from exporter.http import Status, collector_status
from exporter.interpret import findings as fi
from exporter.mixin import alerts
from exporter.mixin.settings import DEFAULTS
from exporter.sources.admin.source import AdminSource
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES, ROOT

SCHEMA = json.loads((ROOT / "docs" / "findings.schema.json").read_text())

#: true in every recorded state: the topics' settings, the recorded groups' offsets
ALWAYS: dict[str, list[str]] = {
    "durability_risk.single_copy_ack": ["risky-rf2"],
    "durability_risk.no_failure_tolerance": [
        "minisr-over-rf (2 replicas and min.insync.replicas=3)",
        "single (1 replica and min.insync.replicas=1, inherited)",
        "strict (3 replicas and min.insync.replicas=3)",
    ],
    "durability_risk.unclean_election": ["unclean"],
    # analytics-lagging's offset on durable-0 was set to log end + 1,000,000 ("power loss")
    "offset_beyond_log_end": ["analytics-lagging on durable/0"],
    # delete_records moved risky-rf2's log start past audit-stale's commits
    "offset_below_log_start": ["audit-stale on risky-rf2/0", "audit-stale on risky-rf2/1"],
    # empty groups with lag
    "group_stopped": ["analytics-lagging", "audit-stale", "perf-consumer"],
}
#: every broker up: one broker's failure breaks single (RF 1) on it, strict (min ISR 3 = RF) and
#: minisr-over-rf (effective 2 = RF) wherever it holds a replica; racks are brokers here
def natural(text: str) -> tuple[str, int]:
    """"topic/partition" in the page's order: by topic, then by partition number."""
    topic, _, partition = text.rpartition("/")
    return topic, int(partition)


HEALTHY_EXPOSED = (
    [f"minisr-over-rf/{p}" for p in (0, 1)] + [f"single/{p}" for p in (0, 1, 2)] + [f"strict/{p}" for p in (0, 1, 2)]
)
SHRUNK = [f"compacted/{p}" for p in range(3)] + [f"durable/{p}" for p in range(6)]
#: node 3 killed: ISRs {1,2} (or {1}, {2}), single/2 without a leader
BROKER_DOWN_EXPOSED = sorted(
    [*SHRUNK, "minisr-over-rf/0", "minisr-over-rf/1"]
    + [f"risky-rf2/{p}" for p in (0, 2, 3, 4)]
    + ["single/0", "single/1"]
    + [f"unclean/{p}" for p in range(3)],
    key=natural,
)
EXPECTED: dict[str, dict[str, list[str]]] = {
    "healthy": {**ALWAYS, "not_single_broker_safe": HEALTHY_EXPOSED, "not_rack_safe": HEALTHY_EXPOSED},
    "broker3-down": {
        **ALWAYS,
        "offline_partitions": ["single/2"],
        # strict: 2 in sync of min 3; minisr-over-rf/0: 1 of effective 2
        "under_min_isr": ["minisr-over-rf/0", "strict/0", "strict/1", "strict/2"],
        "not_single_broker_safe": BROKER_DOWN_EXPOSED,
        # ISR 2 of min 2, and risky-rf2's ISR 1 of min 1 (no_failure_tolerance topics left to their finding)
        "at_min_isr": sorted(
            SHRUNK + [f"risky-rf2/{p}" for p in (0, 2, 3, 4)] + [f"unclean/{p}" for p in range(3)], key=natural
        ),
        "under_replicated": sorted(
            SHRUNK
            + ["minisr-over-rf/0"]
            + [f"risky-rf2/{p}" for p in (0, 2, 3, 4)]
            + [f"strict/{p}" for p in range(3)]
            + [f"unclean/{p}" for p in range(3)],
            key=natural,
        ),
        "not_rack_safe": BROKER_DOWN_EXPOSED,
    },
    "broker3-restarted": {**ALWAYS, "not_single_broker_safe": HEALTHY_EXPOSED, "not_rack_safe": HEALTHY_EXPOSED},
}


class Replay:
    def __init__(self) -> None:
        self.state = "healthy"

    def metadata(self) -> Any:
        return load_metadata(FIXTURES / f"metadata-{self.state}.json")


@contextlib.contextmanager
def replaying() -> Iterator[tuple[Collector, Replay]]:
    """A collector of the recorded cluster (Admin API only), fed by :class:`Replay`."""
    replay = Replay()
    patch = pytest.MonkeyPatch()
    patch.setattr(AdminSource, "collect", lambda self: replay.metadata())
    # group status is judged over a window of commits: 1 s, and a warm-up cycle a window before
    overrides = {"kafka.bootstrap_servers": "127.0.0.1:29092", "interpretation.group_status_window_seconds": 1}
    collector = build_collector(config.load(None, overrides))
    try:
        collector.collect_once()  # warm-up: the first look at the groups
        time.sleep(1.1)  # a whole status window without progress: the recorded empty groups are stopped
        yield collector, replay
    finally:
        collector.stop()
        patch.undo()


@pytest.fixture
def replayed() -> Iterator[tuple[Collector, Replay]]:
    with replaying() as found:
        yield found


def found(doc: dict[str, Any]) -> dict[str, list[str]]:
    return {f["id"]: f["objects"]["items"] for g in doc["groups"] for f in g["findings"]}


def test_recorded_states_give_exactly_the_expected_findings(replayed: tuple[Collector, Replay]) -> None:
    collector, replay = replayed
    starts: list[float] = []
    sinces: list[dict[str, float]] = []
    for state in ("healthy", "broker3-down", "broker3-restarted", "broker3-down"):
        replay.state = state
        snap = collector.collect_once()
        doc = snap.derived["findings"]
        assert found(doc) == EXPECTED[state], state
        jsonschema.validate(json.loads(render_json(doc, collector_status(collector))), SCHEMA)
        starts.append(snap.started)
        sinces.append({f["id"]: f["since"] for g in doc["groups"] for f in g["findings"]})
    # since: the first cycle of an uninterrupted run of the finding
    held = set(EXPECTED["healthy"])  # true in all four cycles (most since the warm-up cycle)
    for since in sinces:
        assert {fid: since[fid] for fid in held} == sinces[0]
    assert max(sinces[0].values()) <= starts[0]
    down_only = set(EXPECTED["broker3-down"]) - held
    assert {fid: sinces[1][fid] for fid in down_only} == dict.fromkeys(down_only, starts[1])
    # gone in the restarted cycle, so the second broker-down cycle starts them anew
    assert {fid: sinces[3][fid] for fid in down_only} == dict.fromkeys(down_only, starts[3])
    assert starts[3] > starts[1]


def test_broker_down_statements_carry_the_numbers(replayed: tuple[Collector, Replay]) -> None:
    collector, replay = replayed
    replay.state = "healthy"
    collector.collect_once()
    replay.state = "broker3-down"
    doc = collector.collect_once().derived["findings"]
    by_id = {f["id"]: f for g in doc["groups"] for f in g["findings"]}
    # broker 2 breaks 17 (13 under min ISR, 4 without an in-sync copy, all of them offline); broker 1: 16
    assert (
        "would break 20 partitions; the worst is broker 2 (13 under min ISR, 4 without an in-sync copy, 4 of them offline)"
        in (by_id["not_single_broker_safe"]["statement"])
    )
    assert by_id["durability_risk.single_copy_ack"]["statement"].startswith(
        "topic `risky-rf2`: 2 replicas and min.insync.replicas=1 — one broker failure can lose acknowledged writes"
    )
    assert by_id["offline_partitions"]["statement"].startswith("1 partition of `single` has no leader")
    assert [g["pitfall"] for g in doc["groups"]] == list(fi.PITFALLS)
    assert [f["severity"] for f in doc["groups"][0]["findings"]][:2] == ["critical", "critical"]  # most urgent first
    table = doc["blast_radius"]
    assert [(b["broker_id"], b["offline"], b["under_min_isr"]) for b in table["brokers"]] == [(1, 3, 13), (2, 4, 13)]
    assert table["survives"] == {
        "broker": {"acks_all_writes": False, "reads": False},
        "rack": {"acks_all_writes": False, "reads": False},
    }
    assert doc["cluster_id"] == "M9RKLLyhQa6-S1-b4j_VvA"


def test_rules_mirror_their_alerts_and_runbook_sections() -> None:
    defined = {a.name: a for a in alerts.all_alerts(DEFAULTS)}
    runbook = runbook_page().decode()
    for rule in fi.RULES:
        assert rule.alert in defined, rule.id
        assert rule.severity == defined[rule.alert].severity, rule.id
        assert f'id="{rule.alert.lower()}"' in runbook, rule.id
        assert rule.pitfall in fi.PITFALLS
    assert len({r.id for r in fi.RULES}) == len(fi.RULES)


def _doc(items: list[str], statement: str = "x") -> dict[str, Any]:
    finding = {
        "id": "under_min_isr",
        "severity": "critical",
        "statement": statement,
        "since": 1000.0,
        "objects": {"kind": "partition", "count": len(items), "items": items, "truncated": False},
        "action": "do it",
        "runbook": "/runbook#kafkapartitionsunderminisr",
    }
    return {"schema": fi.SCHEMA_ID, "exporter_version": "0", "cluster_id": "c", "cycle_started": 1000.0,
            "groups": [{"pitfall": "P1", "title": "P1", "findings": [finding]}], "blast_radius": None, "sources": []}  # fmt: skip


def test_long_object_lists_are_folded_and_text_is_escaped() -> None:
    items = [f"t/{i}" for i in range(30)]
    page = render_page(_doc(items, "topic `<script>alert(1)</script>` is bad"), Status(True, 1000.0, 30.0), 5, now=1090.0)
    assert "<script>" not in page and "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in page
    assert "30 partitions: " in page and "<summary>and 22 more</summary>" in page  # 8 shown, the rest folded
    assert page.count("<code>t/") == 30
    assert "(1 min ago)" in page or "(90 s ago)" in page
    jsonschema.validate(json.loads(render_json(_doc(items), Status(True, 1000.0, 30.0))), SCHEMA)
    with pytest.raises(jsonschema.ValidationError):  # the schema can fail
        bad = _doc(items)
        bad["groups"][0]["findings"][0]["severity"] = "fatal"
        jsonschema.validate(json.loads(render_json(bad, Status())), SCHEMA)


def test_before_the_first_cycle() -> None:
    page = render_page(None, Status(), 0)
    assert "No findings yet" in page and 'href="/metrics"' in page
    doc = json.loads(render_json(None, Status()))
    jsonschema.validate(doc, SCHEMA)
    assert doc["ready"] is False and doc["groups"] == []


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["schema"]["const"] == fi.SCHEMA_ID
    assert Path(ROOT / "docs" / "findings.md").exists()


def test_partitions_are_listed_once_each_in_natural_order() -> None:
    labels = [{"topic": t, "partition": p} for t, p in (("a", "10"), ("a.b", "1"), ("a", "2"), ("b", "0"), ("a", "2"), ("a", "9"))]
    assert fi._partitions(labels) == ["a/2", "a/9", "a/10", "a.b/1", "b/0"]
    assert fi._named([("t", 11), ("s", 3), ("t", 1)]) == ["s/3", "t/1", "t/11"]
    assert fi._named([("t", "x"), ("t", 2), ("s", 1)]) == ["s/1", "t/2", "t/x"]  # not a number: last of its topic

"""The Admin-API worker renders its own families while the collector interprets.

The block it sends must hold exactly what rendering the same state in the collector gives;
when it cannot come (worker gone, timeout), the families are rendered in the collector;
a block that was never read does not leak into the next cycle.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from exporter import config
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.exposition import render_text
from exporter.interpret.blast_radius import BlastRadiusInterpreter
from exporter.interpret.durability import DurabilityInterpreter
from exporter.interpret.durability_specs import DURABILITY_RISK, IN_ONE_RACK, UNDER_REPLICATED
from exporter.interpret.findings import FindingsInterpreter
from exporter.metrics import Samples
from exporter.snapshot import Snapshot, TargetResult
from exporter.sources.admin.client import AdminCollector
from exporter.sources.admin.emit import emit_cluster
from exporter.sources.admin.records import ClusterState, StateTail
from exporter.sources.admin.source import AdminSource
from exporter.sources.admin.specs import PARTITION_LOG_END
from exporter.sources.admin.worker import AdminWorker
from tests._exposition import Parsed
from tests.conftest import commit_offsets, create_topic, produce_exactly

TOPIC = "block-topic"
GROUP = "block-group"

pytestmark = pytest.mark.tansu  # the module's cluster fixture starts one


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    broker = TansuBroker().start()
    try:
        create_topic(broker.bootstrap, TOPIC, partitions=3)
        for p in range(3):
            produce_exactly(broker.bootstrap, TOPIC, p, 2 + p)
        commit_offsets(broker.bootstrap, GROUP, {(TOPIC, 0): 1, (TOPIC, 2): 4})
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def source(cluster: str) -> Iterator[AdminSource]:
    src = AdminSource(config.load(None, {"kafka.bootstrap_servers": cluster}))
    yield src
    src.close()


def _snapshot(state: object) -> Snapshot:
    return Snapshot.of(0.0, [TargetResult("admin", "x", True, 0.0, state)])


def test_block_holds_exactly_what_the_collector_would_render(source: AdminSource) -> None:
    state = source.collect()
    out = Samples()
    source.emit(_snapshot(state), out)
    assert not out.by_spec, "the families come from the worker, not from this process"
    out.resolve_blocks()
    assert len(out.blocks) == 1
    block = out.blocks[0]
    here = Samples()
    emit_cluster(state, here)
    assert block.text == render_text(here)
    assert block.series == here.series_count() > 0
    assert PARTITION_LOG_END.name in block.names
    m = Parsed(bytes(block.text))  # the frame's bytearray, served as it is
    assert [m.value(PARTITION_LOG_END.name, topic=TOPIC, partition=str(p)) for p in range(3)] == [2, 3, 4]
    assert m.value("kafka_insight_consumer_group_committed_offset", group=GROUP, topic=TOPIC, partition="2") == 4


def test_families_are_rendered_here_when_the_block_cannot_come(
    source: AdminSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = source.collect()
    assert isinstance(source.reader, AdminWorker)
    monkeypatch.setattr(source.reader, "block", lambda timeout: None)
    out = Samples()
    source.emit(_snapshot(state), out)
    out.resolve_blocks()
    assert not out.blocks
    assert out.get(PARTITION_LOG_END.name, topic=TOPIC, partition="1") == 3


def test_an_unread_block_does_not_leak_into_the_next_cycle(source: AdminSource) -> None:
    source.collect()  # its block is never read
    state = source.collect()
    assert isinstance(source.reader, AdminWorker)
    block = source.reader.block(10)
    assert block is not None
    here = Samples()
    emit_cluster(state, here)
    assert block.text == render_text(here)
    assert source.reader.block(0.1) is None  # one block per cycle


def test_whole_cycle_through_the_worker_equals_the_in_process_one(cluster: str) -> None:
    cfg = config.load(None, {"kafka.bootstrap_servers": cluster})
    texts = []
    for reader in (AdminWorker(cfg), AdminCollector(cfg)):
        collector = Collector([AdminSource(cfg, reader)], timeout=30)
        try:
            collector.collect_once()
            collector.collect_once()  # exposed_series reports the cycle before
            texts.append(collector.exposition.body)
        finally:
            collector.stop()
    worker, here = (Parsed(t) for t in texts)
    for name in ("kafka_insight_partition_log_end_offset", "kafka_insight_consumer_group_lag", "kafka_insight_topic_partitions"):
        assert sorted(map(str, worker.series(name))) == sorted(map(str, here.series(name)))
    assert worker.value("kafka_insight_exposed_series") == here.value("kafka_insight_exposed_series") > 20


def test_the_collector_interprets_the_state_sent_ahead_while_the_groups_are_read(cluster: str) -> None:
    """Through the worker, the durability and findings steps are prepared from the state sent
    ahead (and used: nothing changed in between), and give what the in-process reader (which
    offers nothing ahead) gives.  On this small cluster the groups take milliseconds: the job
    is held after handing the state over until the collector prepared from it, as a large
    cluster's groups would hold it."""
    cfg = config.load(None, {"kafka.bootstrap_servers": cluster})
    results = []
    for reader in (AdminWorker(cfg), AdminCollector(cfg)):
        steps = [DurabilityInterpreter(), BlastRadiusInterpreter(), FindingsInterpreter()]
        prepared: list[tuple[object, object]] = []
        done = threading.Semaphore(0)

        def spy(snapshot: Snapshot, out: Samples, _p: Any = steps[0].prepare, _seen: Any = prepared, _done: Any = done) -> None:
            _p(snapshot, out)
            _seen.append((snapshot.admin, snapshot.derived.get("durability")))
            _done.release()

        steps[0].prepare = spy  # type: ignore[method-assign]
        if isinstance(reader, AdminWorker):
            collect = reader.collect

            def held(ahead: Any = None, _collect: Any = collect, _done: Any = done) -> ClusterState:
                def offer(partial: ClusterState) -> None:
                    ahead(partial)
                    assert _done.acquire(timeout=20), "the collector did not prepare from the state sent ahead"

                return _collect(ahead=offer if ahead is not None else None)  # type: ignore[no-any-return]

            reader.collect = held  # type: ignore[method-assign]
        collector = Collector([AdminSource(cfg, reader)], steps, timeout=30)
        try:
            collector.collect_once()  # the first cycle: topic ids unknown ahead of the groups
            snapshot = collector.collect_once()
        finally:
            collector.stop()
        findings = snapshot.derived["findings"]
        results.append((Parsed(collector.exposition.body), findings, prepared, snapshot))
    (worker, worker_findings, prepared, snapshot), (here, here_findings, none, _) = results
    assert none == [] and len(prepared) == 2
    ahead, analysis = prepared[-1]
    assert ahead is not snapshot.admin, "prepared from the state sent ahead, not the final one"
    assert snapshot.derived["durability"] is analysis, "what was prepared was used"
    for spec in (UNDER_REPLICATED, IN_ONE_RACK, DURABILITY_RISK):
        assert sorted(map(str, worker.series(spec.name))) == sorted(map(str, here.series(spec.name)))
        assert worker.series(spec.name)
    def listed(document: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in f.items() if k != "since"} for g in document["groups"] for f in g["findings"]]

    assert listed(worker_findings) == listed(here_findings)
    assert any(f["id"] == "not_single_broker_safe" for f in listed(worker_findings))


def test_the_tail_sent_after_the_groups_completes_the_state_sent_ahead() -> None:
    """The worker sends the state ahead of the groups' requests, then only a StateTail: the
    tail applied to what was sent ahead must be exactly the state of the cycle, including a
    log end offset read again after the groups (a commit beyond it), topic ids and configs,
    and leave what was sent ahead unchanged."""
    broker = TansuBroker().start()  # its own: the module's cluster keeps its partition count
    try:
        cluster = broker.bootstrap
        create_topic(cluster, "tail", partitions=2)
        produce_exactly(cluster, "tail", 1, 1)
        commit_offsets(cluster, "tail-group", {("tail", 1): 50})
        admin = AdminCollector(config.load(None, {"kafka.bootstrap_servers": cluster}))
        ahead: list[bytes] = []
        state = admin.collect(lambda partial: ahead.append(pickle.dumps(partial)))
        assert len(ahead) == 1 and admin.reread == [("tail", 1)]
        partial = pickle.loads(ahead[0])
        assert partial != state and not partial.groups and partial.topics["tail"].topic_id is None
        tail = pickle.loads(pickle.dumps(StateTail.of(state, admin.reread)))
        assert list(tail.log_end) == [("tail", 1)]
        final = tail.apply(partial)
        assert final == state
        # the state sent ahead is left as it was (the collector interprets it meanwhile): the
        # final state shares its partitions, but for the one whose log end was read again
        assert partial == pickle.loads(ahead[0]) and partial.topics["tail"].topic_id is None
        assert final.topics["tail"].partitions[0] is partial.topics["tail"].partitions[0]
        assert final.topics["tail"].partitions[1] is not partial.topics["tail"].partitions[1]
        assert state.topics["tail"].topic_id and state.groups["tail-group"].committed == {("tail", 1): 50}
    finally:
        broker.stop()


def test_worker_is_renewed_once_many_partitions_came_and_went(
    cluster: str, source: AdminSource, monkeypatch: pytest.MonkeyPatch
) -> None:
    from confluent_kafka.admin import AdminClient

    from exporter.sources.admin import worker as admin_worker

    monkeypatch.setattr(admin_worker, "RENEW_AFTER_CHURNED_PARTITIONS", 2)
    worker = source.reader
    assert isinstance(worker, AdminWorker)

    def pid() -> int:
        assert worker._process is not None
        return worker._process.pid

    source.collect()
    first = pid()
    create_topic(cluster, "churn-gone", partitions=4)
    assert "churn-gone" in source.collect().topics and pid() == first
    admin = AdminClient({"bootstrap.servers": cluster})
    for future in admin.delete_topics(["churn-gone"], request_timeout=10).values():
        future.result()
    state = source.collect()  # 4 partitions gone > max(2, the 3 left): renew before the next cycle
    assert "churn-gone" not in state.topics and pid() == first
    state = source.collect()
    assert pid() != first and TOPIC in state.topics
    assert source.reader.block(10) is not None  # the new worker renders too

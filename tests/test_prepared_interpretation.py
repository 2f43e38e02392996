"""Partition-level interpretation prepared from the state sent ahead of the groups.

The collector hands the Admin-API state as it was before the consumer groups' requests to
the durability and findings steps while the groups are read
(``prepare``); at the cycle's end each uses what it prepared only when everything it reads
is the same in the final state.  Whatever changed in between, the metrics and the findings
must be exactly those of the final state interpreted on its own.  Recorded real-cluster
metadata (tests/fixtures: broker 3 down, racks r1-r3), no broker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

import pytest

from exporter import cycle, exposition, selfmetrics
from exporter.cycle import Collector
from exporter.exposition import prerender, render_chunks, render_text
from exporter.interpret import blast_radius, durability, durability_specs
from exporter.interpret.blast_radius import BlastRadiusInterpreter
from exporter.interpret.durability import DurabilityInterpreter
from exporter.interpret.findings import FindingsInterpreter
from exporter.metrics import MetricSpec, Samples
from exporter.snapshot import Snapshot, TargetResult
from exporter.sources.admin.records import ClusterState, ConfigValue
from exporter.sources.admin.specs import SRC
from exporter.sources.base import Job, Source
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES


def _ahead() -> ClusterState:
    return load_metadata(FIXTURES / "metadata-broker3-down.json")


def _final(ahead: ClusterState, change: Callable[[ClusterState], None] | None = None) -> ClusterState:
    """The final state as StateTail.apply makes it: new topics sharing the partitions, one
    partition's log end offset read again (a copy), the groups in; then ``change``."""
    topics = {name: replace(t) for name, t in ahead.topics.items()}
    part = topics["durable"].partitions[0]
    topics["durable"].partitions = [replace(part, log_end_offset=(part.log_end_offset or 0) + 5), *topics["durable"].partitions[1:]]
    final = replace(ahead, topics=topics, brokers=list(ahead.brokers), errors=[])
    if change is not None:
        change(final)
    return final


def _configs(state: ClusterState, topic: str, **values: str) -> None:
    t = state.topics[topic]
    assert t.configs is not None
    t.configs = {**t.configs, **{k.replace("_", "."): ConfigValue(v, "DYNAMIC_TOPIC_CONFIG", True) for k, v in values.items()}}


def _isr(state: ClusterState, topic: str, pid: int, isr: list[int]) -> None:
    t = state.topics[topic]
    t.partitions = [replace(p, isr=isr) if p.partition == pid else p for p in t.partitions]


def _rack(state: ClusterState, broker_id: int, rack: str) -> None:
    state.brokers = [replace(b, rack=rack) if b.id == broker_id else b for b in state.brokers]


def _chain() -> list[Any]:
    return [DurabilityInterpreter(), BlastRadiusInterpreter(), FindingsInterpreter()]


def _snapshot(state: ClusterState) -> Snapshot:
    return Snapshot.of(1000.0, [TargetResult(SRC, "x", True, 0.1, state)])


def _interpret(chain: list[Any], state: ClusterState, ahead: ClusterState | None = None) -> tuple[bytes, Any]:
    if ahead is not None:
        early, out = _snapshot(ahead), Samples()
        for step in chain:
            if hasattr(step, "prepare"):
                step.prepare(early, out)
    snapshot, out = _snapshot(state), Samples()
    for step in chain:
        step(snapshot, out)
    return render_text(out), snapshot.derived["findings"]


CHANGES: dict[str, Callable[[ClusterState], None] | None] = {
    "nothing but log end offsets and groups": None,
    "a topic's min.insync.replicas": lambda s: _configs(s, "risky-rf2", min_insync_replicas="2"),
    "unclean election turned on": lambda s: _configs(s, "strict", unclean_leader_election_enable="true"),
    "a broker's rack": lambda s: _rack(s, 1, "r2"),
    "an ISR (a copied partition)": lambda s: _isr(s, "durable", 1, [1]),
    "a topic id (re-created)": lambda s: setattr(s.topics["single"], "topic_id", "new-id"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_prepared_then_final_equals_the_final_state_alone(change: str) -> None:
    """Two cycles: the healthy cluster (the steps' memory: racks, versions, the replica
    counts of partitions in sync), then broker 3 down, prepared from the state sent ahead."""
    healthy = load_metadata(FIXTURES / "metadata-healthy.json")
    ahead = _ahead()
    final = _final(ahead, CHANGES[change])
    assert final != ahead
    with_ahead, alone = _chain(), _chain()
    _interpret(with_ahead, healthy, _final(healthy))
    _interpret(alone, healthy)
    prepared = _interpret(with_ahead, final, ahead)
    expected = _interpret(alone, final)
    assert prepared[0] == expected[0]
    assert prepared[1] == expected[1]


def test_a_change_makes_the_prepared_differ_from_the_final() -> None:
    """The cases above are not vacuous: interpreted on its own, the state sent ahead gives
    other metrics and findings than the final one whenever something it reads changed."""
    ahead = _ahead()
    for change, fn in CHANGES.items():
        if fn is None or "topic id" in change:  # a topic id matters through the steps' memory only
            continue
        assert _interpret(_chain(), ahead)[0] != _interpret(_chain(), _final(ahead, fn))[0], change


def test_what_was_prepared_is_used_when_it_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    ahead = _ahead()
    chain = _chain()
    calls: list[str] = []
    for module, step in ((durability, chain[0]), (blast_radius, chain[1])):
        analyse = step.analyse
        monkeypatch.setattr(step, "analyse", lambda *a, _f=analyse, _m=module.__name__, **k: (calls.append(_m), _f(*a, **k))[1])
    _interpret(chain, _final(ahead), ahead)
    assert calls == ["exporter.interpret.durability", "exporter.interpret.blast_radius"], "durability analysed once, ahead"
    calls.clear()
    _interpret(chain, _final(ahead, CHANGES["a broker's rack"]), ahead)
    assert calls == ["exporter.interpret.durability"] * 2 + ["exporter.interpret.blast_radius"], "analysed again at the end"


# -- the cycle: what a job offers ahead is interpreted while the job goes on -------------


class _Offering(Source):
    """A source whose one job offers a state ahead, then waits for ``release``."""

    name = SRC

    def __init__(self, state: ClusterState, offer: bool = True, final: ClusterState | None = None) -> None:
        self.state, self.offer = state, offer
        self.final = state if final is None else final
        self.release = threading.Event()

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        ahead: Future[Any] = Future()

        def run() -> ClusterState:
            ahead.set_result(self.state if self.offer else None)
            assert self.release.wait(10)
            return self.final

        return [Job(self.name, "x", run, ahead)]

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        pass


class _Recorder:
    def __init__(self, source: _Offering) -> None:
        self.source = source
        self.prepared: list[tuple[ClusterState | None, bool]] = []
        self.called: list[ClusterState | None] = []

    def prepare(self, snapshot: Snapshot, out: Samples) -> None:
        # the job is still running: it waits for this
        self.prepared.append((snapshot.admin, self.source.release.is_set()))
        self.source.release.set()

    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        self.called.append(snapshot.admin)


def test_the_cycle_prepares_from_what_a_job_offers_while_it_runs() -> None:
    state = _ahead()
    source = _Offering(state)
    recorder = _Recorder(source)
    collector = Collector([source], [recorder], timeout=10)
    snapshot = collector.collect_once()
    assert recorder.prepared == [(state, False)]
    assert recorder.called == [state]
    assert snapshot.results[0].up


def test_nothing_is_prepared_when_the_job_offers_nothing() -> None:
    source = _Offering(_ahead(), offer=False)
    source.release.set()
    recorder = _Recorder(source)
    Collector([source], [recorder], timeout=10).collect_once()
    assert recorder.prepared == []
    assert len(recorder.called) == 1


# -- the prepared families are rendered while the groups are read --------------------------

SELF_METRICS = {spec.name for spec in vars(selfmetrics).values() if isinstance(spec, MetricSpec)}


def _cycle_text(ahead: ClusterState, final: ClusterState, offer: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    """One cycle of the durability, blast radius and findings steps over a source that offers
    ``ahead`` (or nothing) and ends with ``final``: the exposition without the self-metrics
    (durations), and the families rendered ahead and not again at the cycle's end."""
    source = _Offering(ahead, offer, final)
    if not offer:
        source.release.set()
    release = _Recorder(source)  # its prepare lets the job end, after the others prepared
    collector = Collector([source], [*_chain(), release], timeout=10)
    # every family's text as it is made: ahead (in prerender) or at the cycle's end
    rendered: dict[str, list[str]] = {"ahead": [], "end": []}
    phase = "end"
    real_prerender, real_family = exposition.prerender, exposition._family_chunks

    def prerender(*args: Any, **kwargs: Any) -> Any:
        nonlocal phase
        phase = "ahead"
        try:
            return real_prerender(*args, **kwargs)
        finally:
            phase = "end"

    def family_chunks(spec: MetricSpec, *args: Any) -> Any:
        rendered[phase].append(spec.name)
        return real_family(spec, *args)

    monkeypatch.setattr(cycle, "prerender", prerender)
    monkeypatch.setattr(exposition, "_family_chunks", family_chunks)
    collector.collect_once()
    used = [name for name in rendered["ahead"] if name not in rendered["end"]]
    kept = [
        line
        for line in collector.exposition.body.decode().splitlines()
        if (line.split()[2] if line.startswith("#") else line.split("{")[0].split(" ")[0]) not in SELF_METRICS
    ]
    return "\n".join(kept), used


def test_the_prepared_families_are_rendered_ahead_and_used_when_they_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    ahead = _ahead()
    prepared, used = _cycle_text(ahead, _final(ahead), True, monkeypatch)
    alone, none = _cycle_text(ahead, _final(ahead), False, monkeypatch)
    assert prepared == alone
    assert none == []
    assert "kafka_insight_partition_under_replicated" in used and "kafka_insight_topic_durability_risk" in used, used
    # a rack changed after the state was sent ahead: analysed again, rendered again, the same text
    changed, used = _cycle_text(ahead, _final(ahead, CHANGES["a broker's rack"]), True, monkeypatch)
    alone, _ = _cycle_text(ahead, _final(ahead, CHANGES["a broker's rack"]), False, monkeypatch)
    assert changed == alone and changed != prepared
    assert "kafka_insight_partition_under_replicated" not in used, used


def test_prerendered_text_is_used_only_for_the_same_rows_unchanged() -> None:
    out = Samples()
    spec = durability_specs.UNDER_REPLICATED
    out.extend(spec, [(("t", "0"), 1), (("t", "1"), 0)])
    done = prerender(out)
    assert b"".join(render_chunks(out, None, done)) == b"".join(render_chunks(out))
    marked = {spec: (rows, n, b"# marked\n") for spec, (rows, n, _) in done.items()}
    assert b"".join(render_chunks(out, None, marked)) == b"# marked\n"
    out.extend(spec, [(("t", "2"), 1)])  # added to since: rendered again
    assert b"".join(render_chunks(out, None, marked)) == b"".join(render_chunks(out)) != b"# marked\n"
    again = Samples()
    again.extend(spec, list(out.by_spec[spec]))  # equal rows, another object: rendered again
    assert b"".join(render_chunks(again, None, marked)) == b"".join(render_chunks(again))
    # more series than the limit: nothing is rendered ahead (the text would be held until then)
    out.extend(durability_specs.OFFLINE, [(("t", "0"), 0)])
    assert list(prerender(out)) == [spec, durability_specs.OFFLINE]
    assert list(prerender(out, limit=4)) == [spec, durability_specs.OFFLINE]
    assert prerender(out, limit=3) == {}

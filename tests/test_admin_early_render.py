"""The Admin-API worker renders the per-partition families of the state it sends ahead of
the groups' requests while the groups are read (exporter.sources.admin.emit.EarlyPartitions).

Whatever was rendered early, the block must be exactly what rendering the cycle's final
state gives: a log end offset read again after the groups (a commit beyond it) changes the
log end and last stable families, which are then rendered again.  Recorded real-cluster
metadata (tests/fixtures), no broker.
"""

from __future__ import annotations

import pytest

from exporter.exposition import render_text
from exporter.metrics import Samples
from exporter.sources.admin import emit
from exporter.sources.admin.emit import LOG_END_FAMILIES, PARTITION_FAMILIES, EarlyPartitions, emit_cluster, render_block
from exporter.sources.admin.records import ClusterState
from exporter.sources.admin.specs import PARTITION_LAST_STABLE, PARTITION_LOG_END
from tests._exposition import Parsed
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES


def _state() -> ClusterState:
    return load_metadata(FIXTURES / "metadata-broker3-down.json")


def _rendered(state: ClusterState) -> bytes:
    out = Samples()
    emit_cluster(state, out)
    return render_text(out)


def _reread(state: ClusterState) -> None:
    """What the worker's second read of a log end offset does: partition durable/1 grew by
    10 messages, 4 of them in an open transaction (its last stable offset stays behind)."""
    part = state.topics["durable"].partitions[1]
    assert (part.log_end_offset, part.last_stable_offset) == (41245, 41245)
    part.log_end_offset, part.last_stable_offset = 41255, 41251


def test_block_from_the_early_render_equals_the_final_state_rendered() -> None:
    state = _state()
    early = EarlyPartitions(state)
    block = render_block(state, True, early.texts([]))
    assert bytes(block.text) == _rendered(state)
    here = Samples()
    emit_cluster(state, here)
    assert block.series == here.series_count()
    assert block.names == tuple(spec.name for spec, _ in here)


def test_a_log_end_offset_read_again_renders_the_log_end_families_again() -> None:
    state = _state()
    early = EarlyPartitions(state)
    texts = early.texts([])  # rendered from the state as sent ahead
    assert set(texts) == set(PARTITION_FAMILIES)
    _reread(state)
    stale = render_block(state, True, texts)
    assert bytes(stale.text) != _rendered(state), "the early log end text no longer matches the state"
    again = early.texts([("durable", 1)])
    assert set(again) == set(PARTITION_FAMILIES) - set(LOG_END_FAMILIES)
    block = render_block(state, True, again)
    assert bytes(block.text) == _rendered(state)
    m = Parsed(bytes(block.text))
    assert m.value(PARTITION_LOG_END.name, topic="durable", partition="1") == 41255
    assert m.value(PARTITION_LAST_STABLE.name, topic="durable", partition="1") == 41251
    assert m.value(PARTITION_LAST_STABLE.name, topic="durable", partition="0") is None  # equal to its log end: absent


def test_a_failed_early_render_leaves_the_families_to_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    state = _state()
    monkeypatch.setattr(emit, "render_partitions", broken)
    early = EarlyPartitions(state)
    texts = early.texts([])
    assert texts == {}
    monkeypatch.undo()
    assert bytes(render_block(state, True, texts).text) == _rendered(state)

"""The order of the Admin-API requests within a cycle (issue 20: the 10k-partition cycle
against its floor), pure: a recording stand-in for confluent-kafka's AdminClient, no broker."""

from __future__ import annotations

import time
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

from exporter import config
from exporter.sources.admin.client import AdminCollector, _Cycle


def done(result: Any) -> Future[Any]:
    f: Future[Any] = Future()
    f.set_result(result)
    return f


class RecordingAdmin:
    """Answers every request at once; ``calls`` is the order they were made in."""

    def __init__(self, topics: dict[str, int]) -> None:
        self.topics = topics
        self.calls: list[str] = []

    def list_consumer_groups(self, **_: Any) -> Future[Any]:
        self.calls.append("list_consumer_groups")
        return done(SimpleNamespace(valid=[], errors=[]))

    def list_topics(self, **_: Any) -> Any:
        self.calls.append("list_topics")
        part = SimpleNamespace(leader=1, replicas=[1], isrs=[1])
        return SimpleNamespace(
            cluster_id="c1",
            brokers={1: SimpleNamespace(id=1, host="h", port=9092)},
            topics={
                name: SimpleNamespace(error=None, partitions={i: part for i in range(n)}) for name, n in self.topics.items()
            },
        )

    def describe_cluster(self, **_: Any) -> Future[Any]:
        self.calls.append("describe_cluster")
        return done(SimpleNamespace(cluster_id="c1", nodes=[SimpleNamespace(id=1, host="h", port=9092, rack=None)]))

    def describe_configs(self, resources: list[Any], **_: Any) -> dict[Any, Future[Any]]:
        self.calls.append("describe_configs")
        return {r: done({}) for r in resources}

    def describe_topics(self, collection: Any, **_: Any) -> dict[str, Future[Any]]:
        self.calls.append("describe_topics")
        return {name: done(SimpleNamespace(topic_id=f"id-{name}")) for name in collection.topic_names}

    def list_offsets(self, wanted: dict[Any, Any], **_: Any) -> dict[Any, Future[Any]]:
        self.calls.append("list_offsets")
        return {tp: done(SimpleNamespace(offset=7)) for tp in wanted}

    def poll(self, _timeout: float) -> None:
        pass


def test_topic_ids_are_asked_after_the_offsets_and_before_the_groups() -> None:
    """describe_topics' answer (a TopicDescription per topic, a TopicPartitionInfo per
    partition) costs the worker ~0.2 s of CPU at 10k partitions; the offsets' answers are
    CPU-bound in the same process, the groups' requests wait on the broker: the ids are asked
    once the offsets are in, so that work overlaps the groups' wait, and still arrive."""
    admin = RecordingAdmin({"a": 3, "b": 2})
    collector = AdminCollector(config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:9"}))
    sent_ahead: list[Any] = []
    state, timed_out = _Cycle(collector, admin, time.monotonic() + 10).run(sent_ahead.append)
    offsets = [i for i, call in enumerate(admin.calls) if call == "list_offsets"]
    assert len(offsets) == 3  # one call per kind: one leader, 5 partitions
    assert admin.calls.index("describe_topics") > max(offsets)
    assert not timed_out and len(sent_ahead) == 1  # the state sent ahead of the groups' requests
    assert {name: t.topic_id for name, t in state.topics.items()} == {"a": "id-a", "b": "id-b"}
    assert [p.log_end_offset for t in state.topics.values() for p in t.partitions] == [7] * 5

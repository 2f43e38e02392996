"""The Admin source keeps Kafka's internal topics for the durability checks (issue 13, item 6).

Whatever the topic filters say, ``__consumer_offsets``, ``__transaction_state`` and
``__share_group_state`` come back in ``ClusterState.internal_topics`` (metadata; their configs
are requested with the others) while ``topics`` keeps following the filters.  The metadata
answer here has the shape of confluent-kafka's ``ClusterMetadata`` (topics -> partitions with
leader, replicas, isrs); the whole path against a real cluster is in
tests/test_internal_topics_real_kafka.py.
"""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from exporter import config
from exporter.sources.admin.client import AdminCollector, _Cycle


def metadata(names: list[str], failed: tuple[str, ...] = ()) -> Any:
    def partitions() -> dict[int, Any]:
        return {pid: SimpleNamespace(leader=1, replicas=[1, 2, 3], isrs=[1, 2]) for pid in (1, 0)}

    return SimpleNamespace(
        topics={n: SimpleNamespace(error="UNKNOWN_TOPIC" if n in failed else None, partitions=partitions()) for n in names}
    )


NAMES = ["payments", "orders", "__transaction_state", "__consumer_offsets", "__amazon_msk_canary", "_schemas"]


def split(overrides: dict[str, Any], failed: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    collector = AdminCollector(config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:9", **overrides}))
    topics, internal = _Cycle(collector, None, time.monotonic() + 10)._topics(metadata(NAMES, failed))
    return list(topics), list(internal)


def test_default_filters_keep_kafkas_internal_topics_aside() -> None:
    assert split({}) == (["_schemas", "orders", "payments"], ["__consumer_offsets", "__transaction_state"])


def test_an_include_filter_does_not_drop_them() -> None:
    assert split({"filters.topics.include": ["orders"]}) == (["orders"], ["__consumer_offsets", "__transaction_state"])
    excluded = split({"filters.topics.exclude": ["__.*"], "filters.topics.include_internal": True})
    assert excluded == (["_schemas", "orders", "payments"], ["__consumer_offsets", "__transaction_state"])


def test_include_internal_puts_them_with_the_others_once() -> None:
    topics, internal = split({"filters.topics.include_internal": True})
    assert topics == ["__amazon_msk_canary", "__consumer_offsets", "__transaction_state", "_schemas", "orders", "payments"]
    assert internal == []


def test_internal_topic_partitions_are_read_like_the_others() -> None:
    collector = AdminCollector(config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:9"}))
    _, internal = _Cycle(collector, None, time.monotonic() + 10)._topics(metadata(NAMES))
    offsets = internal["__consumer_offsets"]
    assert offsets.internal
    assert [(p.partition, p.leader, p.replicas, p.isr) for p in offsets.partitions] == [
        (0, 1, [1, 2, 3], [1, 2]),
        (1, 1, [1, 2, 3], [1, 2]),
    ]
    # a topic whose metadata came back with an error is left out, as user topics are
    assert split({}, failed=("__transaction_state",))[1] == ["__consumer_offsets"]

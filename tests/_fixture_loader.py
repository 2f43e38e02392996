"""Load ``tests/fixtures/metadata-*.json`` (recorded from real Kafka 4.0) into a ClusterState.

The recording has the same fields the Admin-API source collects, so the snapshot ->
metrics and interpretation steps can be tested against what Kafka really reported.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from exporter.sources.admin.records import (
    GROUP_STATES,
    Broker,
    ClusterState,
    ConfigValue,
    ConsumerGroup,
    GroupMember,
    Partition,
    Topic,
)
from exporter.sources.admin.specs import TOPIC_CONFIGS


def load_metadata(path: str | Path, include_internal: bool = False) -> ClusterState:
    data: dict[str, Any] = json.loads(Path(path).read_text())
    cluster = data["cluster"]
    brokers = [Broker(b["id"], b["host"], b["port"], b.get("rack")) for b in cluster["brokers"]]
    topics: dict[str, Topic] = {}
    for t in data["topics"]:
        if t.get("internal") and not include_internal:
            continue
        parts = [
            Partition(
                t["name"],
                p["partition"],
                p["leader"] if p["leader"] is not None else -1,
                list(p["replicas"]),
                list(p["isr"]),
                p.get("earliest_offset"),
                p.get("latest_offset"),
                p.get("latest_offset_read_committed"),
            )
            for p in sorted(t["partitions"], key=lambda p: p["partition"])
        ]
        configs = {
            name: ConfigValue(c["value"], c["source"], c["source"] == "DYNAMIC_TOPIC_CONFIG")
            for name, c in t.get("configs", {}).items()
            if name in TOPIC_CONFIGS
        }
        topics[t["name"]] = Topic(t["name"], bool(t.get("internal")), parts, configs, t.get("topic_id"))
    groups: dict[str, ConsumerGroup] = {}
    for g in data.get("consumer_groups", []):
        members = [
            GroupMember(
                m.get("member_id", ""),
                m.get("client_id", ""),
                m.get("host", ""),
                [(str(a[0]), int(a[1])) for a in m.get("assignment", [])],
            )
            for m in g.get("members", [])
        ]
        committed = {
            (c["topic"], c["partition"]): c["committed_offset"]
            for c in g.get("committed_offsets", [])
            if c.get("committed_offset") is not None and c["committed_offset"] >= 0
        }
        state = g.get("state", "UNKNOWN")
        groups[g["group_id"]] = ConsumerGroup(
            g["group_id"],
            state if state in GROUP_STATES else "UNKNOWN",
            g.get("type", "UNKNOWN"),
            bool(g.get("is_simple_consumer_group")),
            g.get("coordinator_id"),
            members,
            committed,
        )
    return ClusterState(cluster["cluster_id"], brokers, dict(sorted(topics.items())), dict(sorted(groups.items())))

"""Shared fixtures: real brokers started by the tests themselves.

* ``tansu``: the embedded single-node Tansu broker (fast, but with known bugs — see
  ``shared/tansu-quirks.md``); tests that rely on offsets produce one record per batch.
* ``real_kafka``: the real 3-node Apache Kafka 4.0 KRaft cluster from ``../shared/kafka``,
  started once per session.  Without it the tests skip with the reason, unless
  ``KAFKA_INSIGHT_REQUIRE_REAL_KAFKA=1`` (set by ``.ci/run``) turns that into a failure.
  Ports and the data folder follow ``REALKAFKA_*`` variables, so several clusters can run
  side by side on one machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from exporter import config
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.sources.admin.source import AdminSource
from exporter.testing.exposition import Parsed

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KAFKA_INSIGHT_SHARED", ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"
REALKAFKA = SHARED / "kafka" / "realkafka.sh"
QUIET = {"log_level": 0}


@pytest.fixture(scope="module")
def tansu() -> Iterator[TansuBroker]:
    broker = TansuBroker().start()
    yield broker
    broker.stop()


def produce_exactly(bootstrap: str, topic: str, partition: int, count: int) -> None:
    """Produce exactly ``count`` records, one per batch.

    Tansu reports a multi-record batch's log end offset as base offset + 1; a real
    broker does not care.  One record per batch keeps offsets true on both.
    """
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "batch.num.messages": 1, **QUIET})
    for i in range(count):
        producer.produce(topic, f"record-{i}".encode(), partition=partition)
        producer.flush(10)
    assert producer.flush(10) == 0


def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = 1,
    replication: int = 1,
    config: dict[str, str] | None = None,
    exist_ok: bool = False,
) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    for future in admin.create_topics(
        [NewTopic(name, partitions, replication, config=config or {})], request_timeout=15
    ).values():
        try:
            future.result()
        except Exception as exc:
            if not (exist_ok and "TOPIC_ALREADY_EXISTS" in str(exc)):
                raise


#: one attempt of commit_offsets, in a process of its own
_COMMIT_ONCE = """
import json, sys
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
bootstrap, group, offsets = sys.argv[1], sys.argv[2], [tuple(x) for x in json.loads(sys.argv[3])]
quiet = {"log_level": 0}
admin = AdminClient({"bootstrap.servers": bootstrap, **quiet})
tps = [TopicPartition(t, p, o) for t, p, o in offsets]
admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)], request_timeout=10)[group].result()
# read back with a consumer, not Admin list_consumer_group_offsets: that one can crash the
# process in librdkafka on NOT_COORDINATOR (see exporter/sources/admin/worker.py)
reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group, **quiet})
try:
    got = reader.committed([TopicPartition(t, p) for t, p, _ in offsets], timeout=10)
finally:
    reader.close()
seen = {(tp.topic, tp.partition): tp.offset for tp in got}
sys.exit(0 if all(seen.get((t, p)) == o for t, p, o in offsets) else 3)
"""


def commit_offsets(bootstrap: str, group: str, offsets: dict[tuple[str, int], int], timeout: float = 30) -> None:
    """Commit offsets for ``group`` and wait until the coordinator serves them back.

    On a fresh real cluster the first commit can race the creation of __consumer_offsets
    (seen: a commit that reported success and was not there afterwards), so verify and retry.
    Each attempt runs in a process of its own: librdkafka 2.16 was seen to abort the whole
    process inside alter_consumer_group_offsets on a freshly started cluster, which killed
    the test run.
    """
    payload = json.dumps([[t, p, o] for (t, p), o in offsets.items()])
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            done = subprocess.run(
                [sys.executable, "-c", _COMMIT_ONCE, bootstrap, group, payload],
                capture_output=True,
                text=True,
                timeout=max(5.0, deadline - time.monotonic() + 5),
            )
            if done.returncode == 0:
                return
            last = f"exit status {done.returncode}: {done.stderr.strip()[-300:]}"
        except subprocess.TimeoutExpired:
            last = "timed out"
        if time.monotonic() > deadline:
            raise TimeoutError(f"offsets of group {group} did not stick ({last})")
        time.sleep(0.5)


def collect_admin(overrides: dict[str, object]) -> Parsed:
    """One cycle of an Admin-API-only collector with these config overrides, parsed."""
    cfg = config.load(None, overrides)
    collector = Collector([AdminSource(cfg)], interval=cfg.interval, timeout=cfg.timeout)
    try:
        collector.collect_once()
        return Parsed(collector.exposition.body)
    finally:
        collector.stop()


@dataclass
class RealKafka:
    env: dict[str, str]
    nodes: int = 3

    def _port(self, base_var: str, default: int, node: int) -> int:
        return int(self.env.get(base_var, default)) + node

    def client_port(self, node: int) -> int:
        return self._port("REALKAFKA_CLIENT_PORT_BASE", 29091, node)

    def jmx_port(self, node: int) -> int:
        return self._port("REALKAFKA_JMX_PORT_BASE", 29998, node)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.client_port(i)}" for i in range(1, self.nodes + 1))

    def run(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run([str(REALKAFKA), *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"realkafka.sh {' '.join(args)} failed: {done.stderr.strip()[-800:]}")
        return done.stdout

    def kill_broker(self, node: int) -> None:
        self.run("kill-broker", str(node))

    def start_broker(self, node: int) -> None:
        try:
            self.run("start-broker", str(node))
        except RuntimeError as exc:
            # realkafka.sh checks the new PID's command line before the launcher has exec'd into
            # java; on a loaded machine it then reports "exited" for a node that is starting fine
            if "exited" not in str(exc):
                raise
            self.wait_up([node], exc)

    def wait_up(self, nodes: list[int], cause: Exception, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.run("status")
            if all(f"node {i}: up" in status for i in nodes) and all(_port_open(self.client_port(i)) for i in nodes):
                return
            time.sleep(1)
        raise cause

    def wait_full_isr(self, timeout: float = 90) -> None:
        """Wait until every partition's ISR equals its replicas again (after a restart)."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap, **QUIET})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                md = admin.list_topics(timeout=5)
                if len(md.brokers) == self.nodes and all(
                    sorted(p.isrs) == sorted(p.replicas) and p.leader >= 0
                    for t in md.topics.values()
                    for p in t.partitions.values()
                ):
                    return
            except Exception:
                pass
            time.sleep(1)
        raise TimeoutError("ISRs did not become full again")


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _require_real() -> bool:
    return os.environ.get("KAFKA_INSIGHT_REQUIRE_REAL_KAFKA") == "1"


@pytest.fixture(scope="session")
def real_kafka() -> Iterator[RealKafka]:
    if not REALKAFKA.exists():
        reason = f"real Kafka cluster script not found at {REALKAFKA}"
        if _require_real():
            pytest.fail(reason)
        pytest.skip(reason)
    env = dict(os.environ)
    env.setdefault("REALKAFKA_EXTRA_PROPS", "replica.lag.time.max.ms=10000 group.initial.rebalance.delay.ms=0")
    env.setdefault("REALKAFKA_HEAP", "-Xmx384m -Xms192m")
    cluster = RealKafka(env)
    reuse = os.environ.get("KAFKA_INSIGHT_KEEP_REAL_KAFKA") == "1"
    try:
        status = cluster.run("status")
        running = status.count(": up pid") >= 3 and ": down" not in status
        if not (reuse and running):
            cluster.run("clean")
            try:
                cluster.run("start", "3")
            except RuntimeError as exc:  # the same start-up race as in start_broker
                if "exited" not in str(exc):
                    raise
                cluster.wait_up([1, 2, 3], exc)
        cluster.wait_full_isr()
    except Exception as exc:
        if _require_real():
            pytest.fail(f"real Kafka cluster could not start: {exc}")
        pytest.skip(f"real Kafka cluster could not start: {exc}")
    yield cluster
    if not reuse:
        cluster.run("stop")

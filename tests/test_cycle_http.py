"""The cycle and the HTTP server: isolation of sources, timeouts, scrapes served from memory."""

from __future__ import annotations

import gzip
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from exporter import config
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.metrics import MetricSpec, Samples
from exporter.serving import IsolatedServer
from exporter.snapshot import Snapshot
from exporter.sources.admin.source import AdminSource
from exporter.sources.admin.worker import AdminWorker
from exporter.sources.base import Job, Source
from tests._exposition import Parsed
from tests._serving import published, serve

# a spec of the test's own, deliberately not registered: the product's catalogue (README,
# dashboards) must not change because a test module was imported
TEST_VALUE = MetricSpec(
    "kafka_insight_test_value", "gauge", "A value emitted by the test source of test_cycle_http.", ("name",), source="test"
)


class SlowSource(Source):
    """A test double of a *source* (not of Kafka): its job sleeps, or blocks until released."""

    def __init__(self, name: str, delay: float, release: threading.Event | None = None) -> None:
        self.name = name
        self.delay = delay
        self.release = release
        self.calls = 0

    def jobs(self, previous: Snapshot | None) -> list[Job]:
        return [Job(self.name, "t", self.run)]

    def run(self) -> float:
        self.calls += 1
        if self.release is not None:
            self.release.wait(30)
        time.sleep(self.delay)
        return 42.0

    def emit(self, snapshot: Snapshot, out: Samples) -> None:
        for value in snapshot.payloads(self.name):
            out.add(TEST_VALUE, value, self.name)


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_hanging_source_times_out_and_does_not_pile_up() -> None:
    release = threading.Event()
    hanging = SlowSource("hanging", 0, release)
    fast = SlowSource("fast", 0)
    collector = Collector([hanging, fast], timeout=0.5)
    try:
        started = time.monotonic()
        collector.collect_once()
        assert time.monotonic() - started < 2.0
        m = Parsed(collector.exposition.body)
        assert m.value("kafka_insight_source_up", source="hanging", target="t") == 0
        assert m.value("kafka_insight_source_up", source="fast", target="t") == 1
        assert m.value("kafka_insight_test_value", name="fast") == 42
        assert m.value("kafka_insight_test_value", name="hanging") is None
        collector.collect_once()
        assert hanging.calls == 1, "a hanging job must not be started again while it still hangs"
        m = Parsed(collector.exposition.body)
        assert m.value("kafka_insight_source_errors_total", source="hanging", target="t") == 2
        release.set()
        time.sleep(0.1)
        collector.collect_once()
        m = Parsed(collector.exposition.body)
        assert m.value("kafka_insight_source_up", source="hanging", target="t") == 1
        assert hanging.calls == 2
    finally:
        release.set()
        collector.stop()


@pytest.fixture
def server() -> Iterator[tuple[Collector, str, IsolatedServer]]:
    collector = Collector([SlowSource("slow", 1.5)], interval=2, timeout=5)
    srv = serve(collector)
    yield collector, f"http://127.0.0.1:{srv.server_address[1]}", srv
    srv.shutdown()
    collector.stop()


def test_endpoints_and_readiness(server: tuple[Collector, str, IsolatedServer]) -> None:
    collector, base, srv = server
    assert get(base + "/healthz")[0] == 200
    assert get(base + "/readyz")[0] == 503
    collector.start()
    assert collector.ready.wait(10)
    published(srv)
    assert get(base + "/readyz")[0] == 200
    status, body, headers = get(base + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert Parsed(body).value("kafka_insight_test_value", name="slow") == 42
    status, zipped, headers = get(base + "/metrics", {"Accept-Encoding": "gzip"})
    assert headers.get("Content-Encoding") == "gzip" and gzip.decompress(zipped) == collector.exposition.body
    status, page, _ = get(base + "/")
    assert status == 200 and b'href="/metrics"' in page and b"<td>slow</td>" in page
    assert get(base + "/nope")[0] == 404


def test_scrapes_do_not_wait_for_a_running_collection(server: tuple[Collector, str, IsolatedServer]) -> None:
    collector, base, srv = server
    collector.start()
    assert collector.ready.wait(10)
    published(srv)
    # the next cycle is now running (its source takes 1.5 s); scrapes must not wait for it
    time.sleep(0.6)
    durations: list[float] = []

    def scrape(_: int) -> None:
        t0 = time.monotonic()
        assert get(base + "/metrics")[0] == 200
        durations.append(time.monotonic() - t0)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(scrape, range(40)))
    assert max(durations) < 1.0, max(durations)


@pytest.mark.tansu
def test_broker_killed_then_back(tmp_path: object) -> None:
    """The broker dies while the exporter runs: /metrics still answers, source_up 0, no stale
    Kafka series; the broker comes back on the same port: values return without a restart."""
    broker = TansuBroker().start()
    cfg = config.load(
        None,
        {
            "kafka.bootstrap_servers": broker.bootstrap,
            "kafka.request_timeout_seconds": 1.0,
            "collection.interval_seconds": 3,
            "collection.timeout_seconds": 3,
        },
    )
    collector = Collector([AdminSource(cfg), SlowSource("other", 0)], interval=cfg.interval, timeout=cfg.timeout)
    srv = serve(collector)
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        from tests.conftest import collect_until, create_topic, produce_exactly

        def collect_until_up() -> Parsed:
            """Cycles until the admin source is up: the Admin-API worker starts with the first
            cycle, and under CI's load its start-up outlasted this 3 s cycle's deadline once
            ("the cycle's deadline passed before the worker got to it")."""
            return collect_until(
                collector, lambda m: m.value("kafka_insight_source_up", source="admin", target=broker.bootstrap) == 1, 30, pause=0
            )

        create_topic(broker.bootstrap, "t", 1)
        produce_exactly(broker.bootstrap, "t", 0, 5)
        collect_until_up()
        published(srv)
        m = Parsed(get(base + "/metrics")[1])
        assert m.value("kafka_insight_partition_log_end_offset", topic="t", partition=0) == 5
        broker.kill()
        collector.collect_once()
        published(srv)
        t0 = time.monotonic()
        status, body, _ = get(base + "/metrics")
        assert status == 200 and time.monotonic() - t0 < 1.0
        m = Parsed(body)
        assert m.value("kafka_insight_source_up", source="admin", target=broker.bootstrap) == 0
        assert m.series("kafka_insight_partition_log_end_offset") == []
        assert m.series("kafka_insight_brokers") == []
        assert m.value("kafka_insight_test_value", name="other") == 42  # other sources keep working
        assert m.value("kafka_insight_source_errors", source="admin", target=broker.bootstrap) == 1
        broker.start()
        create_topic(broker.bootstrap, "t", 1)  # Tansu keeps data in memory only
        produce_exactly(broker.bootstrap, "t", 0, 2)
        m = collect_until_up()
        assert m.value("kafka_insight_partition_log_end_offset", topic="t", partition=0) == 2
    finally:
        srv.shutdown()
        collector.stop()
        broker.stop()


def test_admin_worker_crash_costs_a_cycle_not_the_exporter(tansu: TansuBroker) -> None:
    """The Admin client lives in a worker process (librdkafka can SIGSEGV on NOT_COORDINATOR
    in list_consumer_group_offsets): a crashed worker is reported and replaced."""
    import os
    import signal

    cfg = config.load(None, {"kafka.bootstrap_servers": tansu.bootstrap})
    source = AdminSource(cfg)
    collector = Collector([source], interval=5, timeout=5)
    try:
        collector.collect_once()
        worker = source.reader
        assert isinstance(worker, AdminWorker) and worker._process is not None and worker._process.pid != os.getpid()
        first = worker._process.pid
        assert first is not None
        os.kill(first, signal.SIGSEGV)  # what the librdkafka bug does to it
        worker._process.join(5)
        collector.collect_once()
        m = Parsed(collector.exposition.body)
        assert m.value("kafka_insight_source_up", source="admin", target=tansu.bootstrap) == 1
        assert worker._process is not None and worker._process.pid != first
    finally:
        collector.stop()


class _CrashesAfterPartial(AdminWorker):
    """The real worker, killed with SIGSEGV (what librdkafka#5040 does) right after it sent
    the state it had before the consumer groups' requests - the moment it crashes in the field."""

    #: the worker processes it killed
    killed: list[int]

    def _receive(self, conn: Any, kinds: tuple[str, ...], limit: float) -> tuple[str, Any]:
        import os
        import signal

        kind, value = super()._receive(conn, kinds, limit)
        if kind == "partial" and self._process is not None and self._process.pid is not None:
            self.killed = [*getattr(self, "killed", []), self._process.pid]
            os.kill(self._process.pid, signal.SIGSEGV)
            self._process.join(5)
        return kind, value


def test_admin_worker_crash_during_the_groups_keeps_the_partition_flags(tansu: TansuBroker) -> None:
    """Issue 13 item 7: a worker that dies in the groups' requests (librdkafka crashes on
    NOT_COORDINATOR while coordinators move, i.e. exactly while a broker is down) still gives
    the cycle its metadata and offsets: source_up 1, the partition values and durability flags
    there, the groups missing and counted."""
    from exporter.interpret.durability import DurabilityInterpreter
    from exporter.interpret.offsets import groups_incomplete
    from tests.conftest import commit_offsets, create_topic, produce_exactly

    topic = "crash-during-groups"
    create_topic(tansu.bootstrap, topic, 2, exist_ok=True)
    produce_exactly(tansu.bootstrap, topic, 0, 3)
    # groups to ask for, so that the worker is still in the groups' requests when the kill lands
    # (with none, it may have sent its whole answer first, on a quiet machine every time)
    for g in range(5):
        commit_offsets(tansu.bootstrap, f"crash-during-groups-{g}", {(topic, 0): 1, (topic, 1): 0})
    cfg = config.load(
        None, {"kafka.bootstrap_servers": tansu.bootstrap, "filters.topics.include": [topic], "collection.interval_seconds": 15}
    )
    worker = _CrashesAfterPartial(cfg)
    collector = Collector([AdminSource(cfg, worker)], [DurabilityInterpreter()], interval=cfg.interval, timeout=cfg.timeout)
    crashed_in_groups = 0
    try:
        # the kill races the worker's last message (with no groups on the broker it may have
        # sent its full answer already): repeat until a cycle lost its worker in the groups
        for _ in range(20):
            snap = collector.collect_once()
            m = Parsed(collector.exposition.body)
            assert m.value("kafka_insight_source_up", source="admin", target=tansu.bootstrap) == 1
            assert m.value("kafka_insight_partition_leader", topic=topic, partition=1) is not None
            assert m.value("kafka_insight_partition_log_end_offset", topic=topic, partition=0) == 3
            for pid in range(2):
                assert m.value("kafka_insight_partition_offline", topic=topic, partition=pid) == 0
                assert m.value("kafka_insight_partition_under_replicated", topic=topic, partition=pid) == 0
            if (m.value("kafka_insight_admin_request_errors", request="list_consumer_group_offsets") or 0) >= 1:
                assert (m.value("kafka_insight_source_errors", source="admin", target=tansu.bootstrap) or 0) >= 1
                # replaced at once: the next cycle does not wait for a new interpreter's start-up
                assert worker._process is not None and worker._process.pid not in worker.killed
                # the groups are missing, not gone: the lag/status memory of them is kept
                assert snap.admin is not None and groups_incomplete(snap.admin)
                crashed_in_groups += 1
                break
    finally:
        collector.stop()
    assert crashed_in_groups


class _CrashesOnceEarly(AdminWorker):
    """The real worker, killed with SIGABRT (librdkafka's assertion, seen live in the cycle after
    a broker was killed) once, as the cycle begins - before it sent anything."""

    crashed = False

    def _receive(self, conn: Any, kinds: tuple[str, ...], limit: float) -> tuple[str, Any]:
        import os
        import signal

        if not self.crashed and self._process is not None and self._process.pid is not None:
            self.crashed = True
            os.kill(self._process.pid, signal.SIGABRT)
            self._process.join(5)
        return super()._receive(conn, kinds, limit)


def test_admin_worker_dying_early_in_a_cycle_is_retried_in_a_fresh_one(tansu: TansuBroker) -> None:
    """Issue 13 item 7: a worker that dies before it sent anything, with most of the cycle left,
    is replaced and asked again within the same cycle: source_up 1, the partitions there."""
    from tests.conftest import create_topic

    topic = "crash-early"
    create_topic(tansu.bootstrap, topic, 2, exist_ok=True)
    cfg = config.load(
        None, {"kafka.bootstrap_servers": tansu.bootstrap, "filters.topics.include": [topic], "collection.interval_seconds": 15}
    )
    worker = _CrashesOnceEarly(cfg)
    collector = Collector([AdminSource(cfg, worker)], interval=cfg.interval, timeout=cfg.timeout)
    try:
        collector.collect_once()
        m = Parsed(collector.exposition.body)
    finally:
        collector.stop()
    assert worker.crashed
    assert m.value("kafka_insight_source_up", source="admin", target=tansu.bootstrap) == 1
    assert m.value("kafka_insight_partition_leader", topic=topic, partition=1) is not None

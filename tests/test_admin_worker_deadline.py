"""The Admin-API worker answers within the cycle's deadline, whatever its process does.

CI failed once right after a broker was killed (tests/test_mixin_real_kafka.py): librdkafka
crashed the worker in the groups' requests (the cycle still exported what it had), the next
cycle started a new worker itself and waited for it past the cycle's 5 s timeout, and the
Admin-API source was reported down ("timed out after 5 s").  A new interpreter's imports take
~1 s on the quiet 2-core machine and several under CI's load: here a worker process is made
slow to start (tests/_slow_admin_worker.py) instead of loading the machine.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from exporter import config
from exporter.config import Config
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.snapshot import Snapshot
from exporter.sources.admin.source import AdminSource
from exporter.sources.admin.worker import AdminWorker
from tests._exposition import Parsed
from tests.conftest import commit_offsets, create_topic
from tests.test_cycle_http import _CrashesAfterPartial

TOPIC = "worker-deadline"
#: the worker processes' start-up delay is read from here (see tests/_slow_admin_worker.py)
DELAY_VAR = "KAFKA_INSIGHT_TEST_WORKER_DELAY"
PAUSE_VAR = "KAFKA_INSIGHT_TEST_WORKER_PAUSE"


class _SlowStart:
    """Mixed into a worker: its n-th process sleeps ``delays[n]`` seconds (the last one for
    every later process) before it serves."""

    module = "tests._slow_admin_worker"
    delays: list[float]
    started: list[int]

    def _start(self) -> Any:
        delay = self.delays[min(len(self.started), len(self.delays) - 1)]
        os.environ[DELAY_VAR] = str(delay)
        try:
            channel = super()._start()  # type: ignore[misc]
        finally:
            del os.environ[DELAY_VAR]
        self.started.append(self._process.pid)  # type: ignore[attr-defined]
        return channel


class SlowStartWorker(_SlowStart, AdminWorker):
    def __init__(self, cfg: Config, delays: list[float]) -> None:
        super().__init__(cfg)
        self.delays, self.started = delays, []


class PausingWorker(SlowStartWorker):
    """Its first process stops the broker (SIGSTOP) in its ``nth`` collection, right after the
    state sent ahead, until that collection is over (tests/_slow_admin_worker.py)."""

    def __init__(self, cfg: Config, pid: int, nth: int) -> None:
        super().__init__(cfg, [0])
        self.pause = f"{pid}:{nth}"

    def _start(self) -> Any:
        if not self.started:
            os.environ[PAUSE_VAR] = self.pause
        try:
            return super()._start()
        finally:
            os.environ.pop(PAUSE_VAR, None)


class SlowStartCrashingWorker(_SlowStart, _CrashesAfterPartial):
    """Killed (SIGSEGV) right after each partial state once ``crashing``, as librdkafka does in
    the groups' requests."""

    crashing = False

    def __init__(self, cfg: Config, delays: list[float]) -> None:
        super().__init__(cfg)
        self.delays, self.started, self.killed = delays, [], []

    def _receive(self, conn: Any, kinds: tuple[str, ...], limit: float) -> tuple[str, Any]:
        if self.crashing:
            return super()._receive(conn, kinds, limit)
        return AdminWorker._receive(self, conn, kinds, limit)


@pytest.fixture
def cfg(tansu: TansuBroker) -> Iterator[Config]:
    create_topic(tansu.bootstrap, TOPIC, 2, exist_ok=True)
    # the test's cycle: 5 s, as in the live mixin test; a 15 s interval leaves a worker started
    # in one cycle the time to start (5 s of delay here, plus its imports on a loaded machine)
    # before the next
    yield config.load(
        None,
        {
            "kafka.bootstrap_servers": tansu.bootstrap,
            "filters.topics.include": [TOPIC],
            "collection.interval_seconds": 15,
            "collection.timeout_seconds": 5,
            "kafka.request_timeout_seconds": 4,
        },
    )


def cycle(collector: Collector, began: float | None = None) -> tuple[Snapshot, Parsed]:
    """One cycle, ``interval`` after ``began`` (as the collector's loop runs them)."""
    if began is not None:
        time.sleep(max(0.0, began + collector.interval - time.monotonic()))
    snapshot = collector.collect_once()
    return snapshot, Parsed(collector.exposition.body)


def admin_error(snapshot: Snapshot) -> str | None:
    return next(r.error for r in snapshot.results if r.source == "admin")


def up(m: Parsed, cfg: Config) -> bool:
    return m.value("kafka_insight_source_up", source="admin", target=cfg.bootstrap_servers[0]) == 1


def warm(collector: Collector, cfg: Config) -> float:
    """Cycles until the first worker answers (on a loaded machine its imports alone can take
    the first cycle's 5 s: seen at load 18); when the last one began."""
    errors = []
    for _ in range(8):
        began = time.monotonic()
        snapshot, m = cycle(collector)
        if up(m, cfg):
            return began
        errors.append(admin_error(snapshot))
        time.sleep(1)
    raise AssertionError(f"the first worker never answered: {errors}")


@pytest.mark.slow  # two cycles 15 s apart
def test_a_worker_that_died_in_the_groups_is_replaced_before_the_next_cycle(cfg: Config) -> None:
    """The replacement starts when the death is seen, not in the next cycle: a replacement that
    takes 5 s to start (the whole cycle timeout) is ready by the next cycle, 15 s later."""
    worker = SlowStartCrashingWorker(cfg, [0, 5])
    collector = Collector([AdminSource(cfg, worker)], interval=cfg.interval, timeout=cfg.timeout)
    target = cfg.bootstrap_servers[0]
    try:
        warm(collector, cfg)
        worker.crashing = True
        began = time.monotonic()
        snapshot, m = cycle(collector)
        assert worker.killed, "the first worker was not killed after its partial state"
        assert m.value("kafka_insight_source_up", source="admin", target=target) == 1, admin_error(snapshot)
        snapshot, m = cycle(collector, began)
        # up, with the partial state of the replacement (killed in its groups' requests too)
        assert m.value("kafka_insight_source_up", source="admin", target=target) == 1, admin_error(snapshot)
        assert m.value("kafka_insight_partition_leader", topic=TOPIC, partition=1) is not None
        assert len(worker.killed) == 2 and worker.killed[1] == worker.started[1]
    finally:
        collector.stop()


@pytest.mark.slow  # two cycles 15 s apart
def test_a_worker_that_died_between_cycles_is_replaced_before_the_next_cycle(cfg: Config) -> None:
    """librdkafka also aborts between cycles (a request of the last cycle timing out): the
    replacement starts when the process dies, not in the next cycle."""
    worker = SlowStartWorker(cfg, [0, 5])
    collector = Collector([AdminSource(cfg, worker)], interval=cfg.interval, timeout=cfg.timeout)
    target = cfg.bootstrap_servers[0]
    try:
        began = warm(collector, cfg)
        os.kill(worker.started[0], signal.SIGABRT)  # what librdkafka's assertion does to it
        for _ in range(50):  # the replacement is started at once (it then takes 5 s to serve)
            if len(worker.started) == 2:
                break
            time.sleep(0.1)
        assert len(worker.started) == 2, "no replacement started after the worker died"
        snapshot, m = cycle(collector, began)
        assert m.value("kafka_insight_source_up", source="admin", target=target) == 1, admin_error(snapshot)
        assert m.value("kafka_insight_partition_leader", topic=TOPIC, partition=1) is not None
        assert len(worker.started) == 2
    finally:
        collector.stop()


@pytest.mark.slow  # two cycles 15 s apart
def test_a_worker_that_sends_nothing_is_reported_by_the_cycles_deadline_and_kept(cfg: Config) -> None:
    """A worker still starting at the cycle's deadline: the source's own job reports it (not the
    cycle's "timed out", which also leaves the job hanging into the next cycle), and the worker
    is kept and answers the next cycle (it is not restarted, which would start it over)."""
    worker = SlowStartWorker(cfg, [8])
    collector = Collector([AdminSource(cfg, worker)], interval=cfg.interval, timeout=cfg.timeout)
    target = cfg.bootstrap_servers[0]
    try:
        began = time.monotonic()
        snapshot, m = cycle(collector)
        assert m.value("kafka_insight_source_up", source="admin", target=target) == 0
        error = admin_error(snapshot)
        assert error is not None and "sent nothing by the cycle's deadline (still starting)" in error, error
        snapshot, m = cycle(collector, began)
        assert m.value("kafka_insight_source_up", source="admin", target=target) == 1, admin_error(snapshot)
        assert m.value("kafka_insight_partition_leader", topic=TOPIC, partition=1) is not None
        assert len(worker.started) == 1 and worker._process is not None and worker._process.pid == worker.started[0]
    finally:
        collector.stop()


@pytest.mark.slow  # two cycles 15 s apart
def test_a_worker_whose_requests_timed_out_is_replaced_once_its_cycle_is_over(cfg: Config, tansu: TansuBroker) -> None:
    """CI: requests timed out in the cycles after a broker was killed, and in the next cycle
    librdkafka aborted the worker (``eonce->refcnt > 0``) before it had sent anything ahead,
    too late for a retry: the Admin-API source was down that cycle.  librdkafka holds on to
    requests that timed out; a worker whose requests did is replaced once its cycle (and its
    block) is over, so the next cycle is served by a fresh process, started between cycles.

    The timeouts are real: the worker stops Tansu (SIGSTOP) once it has sent its state ahead,
    so librdkafka gives the requests after it up."""
    assert tansu.process is not None
    # a group: its requests come after the state sent ahead (the group listing is sent before
    # it, and may be answered by then; without a group nothing was left to time out once in CI)
    commit_offsets(tansu.bootstrap, "worker-deadline-timed-out", {(TOPIC, 0): 0})
    worker = PausingWorker(cfg, tansu.process.pid, 2)
    collector = Collector([AdminSource(cfg, worker)], interval=cfg.interval, timeout=cfg.timeout)
    try:
        warm(collector, cfg)
        assert len(worker.started) == 1
        began = time.monotonic()
        snapshot, m = cycle(collector)
        assert up(m, cfg), admin_error(snapshot)
        assert snapshot.admin is not None
        timed_out = [e for e in snapshot.admin.errors if "_TIMED_OUT" in e]
        assert [e for e in timed_out if "consumer_group" in e], snapshot.admin.errors
        assert len(worker.started) == 2, "the worker whose requests timed out was not replaced after its cycle"
        snapshot, m = cycle(collector, began)
        assert up(m, cfg), admin_error(snapshot)
        assert m.value("kafka_insight_partition_leader", topic=TOPIC, partition=1) is not None
        # a cycle without timeouts keeps its worker
        assert len(worker.started) == 2 and worker._process is not None and worker._process.pid == worker.started[1]
    finally:
        os.kill(tansu.process.pid, signal.SIGCONT)
        collector.stop()


def test_a_worker_silent_for_too_long_is_replaced(cfg: Config) -> None:
    """A worker that has sent nothing for ``2 * timeout + request_timeout + 30`` s while asked (a
    librdkafka call that never returns) is replaced by the next cycle."""
    worker = SlowStartWorker(cfg, [0])
    collector = Collector([AdminSource(cfg, worker)], interval=cfg.interval, timeout=cfg.timeout)
    try:
        warm(collector, cfg)
        first = worker.started[-1]
        # as if the last request had been sent that long ago and not answered
        worker._pending, worker._heard = True, time.monotonic() - (2 * cfg.timeout + cfg.kafka.request_timeout_seconds + 31)
        cycle(collector)
        assert len(worker.started) == 2 and worker.started[0] == first, worker.started
        # the new worker starts in that cycle (no time to start it ahead): up once it has
        warm(collector, cfg)
        assert len(worker.started) == 2
    finally:
        collector.stop()

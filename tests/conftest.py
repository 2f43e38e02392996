"""Shared fixtures: real brokers started by the tests themselves, and the test tiers.

* ``tansu``: the embedded single-node Tansu broker (fast, but with known bugs — see
  ``shared/tansu-quirks.md``); tests that rely on offsets produce one record per batch.
* ``real_kafka``: the real 3-node Apache Kafka 4.0 KRaft cluster, started once per session by
  ``tests/realkafka.sh`` from the Kafka distribution at ``$KAFKA_HOME``, else
  ``../shared/kafka/dist``.  Without one the tests skip with one reason, unless
  ``KAFKA_INSIGHT_REQUIRE_REAL_KAFKA=1`` (set by ``.ci/run``) turns that into a failure.
  Ports and the data folder follow ``REALKAFKA_*`` variables, so several clusters can run
  side by side on one machine.
* Recorded data from a real Kafka 4.0 cluster is in ``tests/fixtures/`` (``FIXTURES``).
* Markers (``pytest --markers``) are applied here from the fixtures a test uses, so
  ``pytest -m "not real_kafka"`` is the fast tier; see ``pytest_collection_modifyitems``.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from exporter import config
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.sources.admin.source import AdminSource
from tests._exposition import Parsed

ROOT = Path(__file__).resolve().parent.parent
#: data recorded from a real Kafka 4.0 cluster (copied here from the project's shared recordings, so a clone alone runs its tests)
FIXTURES = ROOT / "tests" / "fixtures"
#: drives a Kafka distribution (KAFKA_HOME) to run a KRaft cluster on 127.0.0.1
REALKAFKA = ROOT / "tests" / "realkafka.sh"
QUIET = {"log_level": 0}


def _find_kafka_home() -> tuple[Path | None, str]:
    """The Kafka 4.0 distribution the real-Kafka tests run, or why there is none."""
    shared = Path(os.environ.get("KAFKA_INSIGHT_SHARED", ROOT.parent / "shared")) / "kafka" / "dist"
    env = os.environ.get("KAFKA_HOME")
    candidates = [Path(env)] if env else [shared]
    for home in candidates:
        if (home / "bin" / "kafka-server-start.sh").exists():
            if shutil.which("java") is None:
                return None, f"java (17) is not on PATH, needed by the Kafka distribution at {home}"
            return home.resolve(), ""
    where = f"KAFKA_HOME={env} has no bin/kafka-server-start.sh" if env else f"KAFKA_HOME is not set and {shared} does not exist"
    return None, f"no Apache Kafka distribution for the real-Kafka tests: {where}"


KAFKA_HOME, NO_KAFKA_REASON = _find_kafka_home()
#: Kafka's command-line tools (kafka-configs.sh, kafka-producer-perf-test.sh, ...)
KAFKA_BIN = (KAFKA_HOME or Path("/nonexistent")) / "bin"


def _require_real() -> bool:
    return os.environ.get("KAFKA_INSIGHT_REQUIRE_REAL_KAFKA") == "1"


def skip_or_fail(reason: str) -> NoReturn:
    """Skip a test that needs real Kafka, or fail it where CI requires real Kafka."""
    if _require_real():
        pytest.fail(f"{reason} (KAFKA_INSIGHT_REQUIRE_REAL_KAFKA=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_home() -> Path:
    """The Kafka distribution; every real-Kafka test goes through here, so a clone without one
    reports a single skip reason."""
    if KAFKA_HOME is None:
        skip_or_fail(NO_KAFKA_REASON)
    return KAFKA_HOME


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Fold the real-Kafka skips into one line of the summary (pytest would list each test)."""
    report: pytest.TestReport = yield
    if report.skipped and isinstance(report.longrepr, tuple) and report.longrepr[2] == f"Skipped: {NO_KAFKA_REASON}":
        report.longrepr = (__file__, skip_or_fail.__code__.co_firstlineno, report.longrepr[2])
    return report


def realkafka_env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "KAFKA_HOME": str(home), **extra}


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


def collect_until(collector: Collector, done: Callable[[Parsed], bool], timeout: float = 90, pause: float = 0.5) -> Parsed:
    """Cycles of ``collector`` until ``done`` holds for the parsed exposition, at most
    ``timeout`` seconds, ``pause`` apart: the last one either way (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    while True:
        collector.collect_once()
        m = Parsed(collector.exposition.body)
        if done(m) or time.monotonic() > deadline:
            return m
        time.sleep(pause)


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


@pytest.fixture(scope="session")
def real_kafka(kafka_home: Path) -> Iterator[RealKafka]:
    env = realkafka_env(kafka_home)
    env.setdefault("REALKAFKA_EXTRA_PROPS", "replica.lag.time.max.ms=10000 group.initial.rebalance.delay.ms=0")
    env.setdefault("REALKAFKA_HEAP", "-Xmx384m -Xms192m")
    # realkafka.sh's own 90 s was seen to expire on the shared 2-core machine (load average 20+)
    # with all three nodes up shortly after
    env.setdefault("REALKAFKA_START_TIMEOUT", "150")
    cluster = RealKafka(env)
    reuse = os.environ.get("KAFKA_INSIGHT_KEEP_REAL_KAFKA") == "1"
    try:
        status = cluster.run("status")
        running = status.count(": up pid") >= 3 and ": down" not in status
        if not (reuse and running):
            cluster.run("clean")
            try:
                cluster.run("start", "3", timeout=240)
            except RuntimeError as exc:  # the same start-up race as in start_broker
                if "exited" not in str(exc):
                    raise
                cluster.wait_up([1, 2, 3], exc)
        cluster.wait_full_isr()
    except Exception as exc:
        if not reuse:  # nodes that came up late would otherwise outlive the session
            with contextlib.suppress(Exception):
                cluster.run("stop")
        skip_or_fail(f"real Kafka cluster could not start: {exc}")
    yield cluster
    if not reuse:
        cluster.run("stop")


# -- tiers: markers applied from the fixtures a test uses ------------------------------------

#: marker -> fixtures whose use (directly or through another fixture) puts a test in that tier
FIXTURE_MARKERS: dict[str, set[str]] = {
    "real_kafka": {"kafka_home"},
    "tansu": {"tansu"},
    "browser": {"browser", "driver", "chrome", "selenium_driver", "webdriver"},
}
MARKERS = {
    "real_kafka": "needs the real Apache Kafka 4.0 distribution (KAFKA_HOME or ../shared/kafka/dist) and java; "
    "skipped without it unless KAFKA_INSIGHT_REQUIRE_REAL_KAFKA=1",
    "tansu": "starts the embedded Tansu broker (a few seconds)",
    "prometheus": "starts a real Prometheus server (Debian package prometheus)",
    "browser": "drives Chromium through selenium",
    "slow": "takes about 10 s or more on a 2-core machine (every real_kafka and prometheus test counts as slow)",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    # pytest-xdist (pytest -n 2): schedule by the groups pytest_collection_modifyitems sets, so
    # that the real-Kafka tests never start two clusters on the same ports
    if config.pluginmanager.hasplugin("xdist"):
        if hasattr(config, "workerinput"):  # a worker: its xdist reads the groups into node ids
            config.option.loadgroup = True
        elif config.getoption("dist", "no") == "load":  # -n without --dist
            config.option.dist = "loadgroup"


def _module_uses(item: pytest.Item, prefix: str) -> bool:
    """Whether the test's module holds something imported from ``prefix`` (a package or module)."""
    module = getattr(item, "module", None)
    if module is None:
        return False
    for value in vars(module).values():
        origin = value.__name__ if inspect.ismodule(value) else getattr(value, "__module__", None)
        if isinstance(origin, str) and (origin == prefix or origin.startswith(prefix + ".")):
            return True
    return False


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's worker reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    xdist = config.pluginmanager.hasplugin("xdist")
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in FIXTURE_MARKERS.items():
            if used & fixtures:
                item.add_marker(marker)
        if _module_uses(item, "selenium"):
            item.add_marker("browser")
        if _module_uses(item, "tests._prometheus"):
            item.add_marker("prometheus")
        if item.get_closest_marker("real_kafka") or item.get_closest_marker("prometheus"):
            item.add_marker("slow")
        if xdist and not item.get_closest_marker("xdist_group"):
            # with pytest-xdist (-n 2, scheduled by these groups, see pytest_configure): every
            # real-Kafka test on one worker (one cluster per session, on this session's
            # REALKAFKA_* ports), and a module's tests together, so that its module-scoped
            # brokers, demos and Prometheus servers start once
            group = "real_kafka" if item.get_closest_marker("real_kafka") else item.path.stem
            item.add_marker(pytest.mark.xdist_group(group))


# -- isolation: a patch of the exporter's code must not outlive the module that made it ------
#
# A module-scoped fixture once patched AdminSource.collect with a MonkeyPatch it undid only on
# the success path; when its setup failed (a clone without the recorded data), the patch stayed
# and later modules' AdminSource read the recorded metadata instead of their broker.  Every
# module-level and class-level attribute of the package is recorded once collection is done and
# compared whenever a test module's fixtures have been torn down: a difference is restored and
# reported as an error of the module's last test.

_Key = tuple[str, str | None, str]  # module, class or None, attribute


def _package_attributes() -> dict[_Key, object]:
    seen: dict[_Key, object] = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "exporter" or name.startswith("exporter.")):
            continue
        for attr, value in list(vars(module).items()):
            seen[(name, None, attr)] = value
            if inspect.isclass(value) and value.__module__ == name:
                for class_attr, class_value in list(vars(value).items()):
                    seen[(name, attr, class_attr)] = class_value
    return seen


_baseline: dict[_Key, object] = {}
_MISSING = object()


def pytest_collection_finish(session: pytest.Session) -> None:
    _baseline.update(_package_attributes())


def _restore(key: _Key, value: object) -> None:
    module, cls, attr = key
    owner: object = sys.modules[module] if cls is None else getattr(sys.modules[module], cls)
    if value is _MISSING:
        delattr(owner, attr)
    else:
        setattr(owner, attr, value)


def leaked_patches() -> list[str]:
    """Attributes that differ from the recorded originals; each is put back."""
    now = _package_attributes()
    leaks = []
    for key, original in _baseline.items():
        current = now.get(key, _MISSING)
        if current is not original and key[0] in sys.modules:
            leaks.append(".".join(part for part in key if part))
            _restore(key, original)
    for key in now.keys() - _baseline.keys():
        module, cls, attr = key
        # added to a recorded class; dunders are Python's own caches (pickle's __slotnames__)
        if cls is not None and (module, None, cls) in _baseline and not attr.startswith("__"):
            leaks.append(".".join(part for part in key if part))
            _restore(key, _MISSING)
    return leaks


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    result = yield
    if _baseline and (nextitem is None or nextitem.module is not getattr(item, "module", None)):  # type: ignore[attr-defined]
        leaks = leaked_patches()
        if leaks:
            raise AssertionError(
                f"{item.nodeid}: its module left patched (now restored): {', '.join(sorted(leaks))}"
            )
    return result

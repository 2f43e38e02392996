"""/metrics served by a process of its own (exporter/serving.py, what the command line runs).

What must hold: the serving process answers with exactly the collector's exposition
(plain and gzip), /readyz follows the first cycle, a scrape does not wait for the
collecting process's GIL, a killed serving process is replaced with the latest
exposition, and a dead parent takes the serving process with it.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from exporter.cycle import Collector
from exporter.serving import IsolatedServer
from tests._exposition import Parsed
from tests.test_cycle_http import SlowSource, get

ROOT = Path(__file__).resolve().parent.parent


def _until(what: str, check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def served() -> object:
    collector = Collector([SlowSource("steady", 0)], timeout=5)
    server = IsolatedServer(collector, "127.0.0.1", 0, "test title")
    yield collector, server, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    collector.stop()


def _published(url: str, collector: Collector) -> bool:
    status, body, _ = get(url + "/metrics")
    return status == 200 and body == collector.exposition.body


def test_serves_exactly_what_the_collector_rendered(served: tuple[Collector, IsolatedServer, str]) -> None:
    collector, server, url = served
    _until("the serving process answers", lambda: get(url + "/healthz")[0] == 200)
    assert get(url + "/readyz")[0] == 503  # no cycle yet
    collector.collect_once()
    assert server.wait_published(1, 20)
    assert _published(url, collector)  # acknowledged means served
    assert get(url + "/readyz")[0] == 200
    status, body, headers = get(url + "/metrics", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == collector.exposition.body
    assert Parsed(body if not body.startswith(b"\x1f\x8b") else gzip.decompress(body)).value(
        "kafka_insight_test_value", name="steady"
    ) == 42
    page = get(url + "/")[1].decode()
    assert "test title" in page and "<td>steady</td>" in page and "up" in page
    # a second cycle replaces the first as a whole
    first = collector.exposition.body
    collector.collect_once()
    _until("the second cycle is published", lambda: _published(url, collector))
    assert collector.exposition.body != first  # the self metrics moved on
    assert server.pid != os.getpid()


#: a regex that backtracks exponentially: one C call that holds the GIL from start to end
BACKTRACKING = re.compile(r"(a+)+b")


def _backtracking_length(seconds: float) -> int:
    """How many a's make BACKTRACKING run about ``seconds`` on this machine now (each one more
    doubles the time), measured on short inputs: a fixed length took 28 s at load average 10."""
    n = 16
    while True:
        began = time.monotonic()
        BACKTRACKING.match("a" * n)
        took = time.monotonic() - began
        if took >= 0.1:
            return n + max(0, math.ceil(math.log2(seconds / took)))
        n += 1


@pytest.mark.slow
def test_a_scrape_does_not_wait_for_the_collectors_gil(served: tuple[Collector, IsolatedServer, str]) -> None:
    collector, _server, url = served
    collector.collect_once()
    _until("published", lambda: _published(url, collector))
    # the scraper is another process (a client thread here would need this GIL too); once it
    # has started it says so, scrapes a moment later, while this process is busy, and reports
    # when the answer came (CLOCK_MONOTONIC is the same clock in every process)
    client = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, urllib.request\n"
            "print('ready', flush=True)\n"
            "time.sleep(0.5)\n"
            "status = urllib.request.urlopen(sys.argv[1], timeout=30).status\n"
            "print(status, time.monotonic(), flush=True)",
            url + "/metrics",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert client.stdout is not None
    length = _backtracking_length(2.5)
    assert client.stdout.readline().strip() == "ready"
    # one C call that holds this process's GIL from start to end (seconds of regex
    # backtracking), as confluent-kafka or pickle do with big results; served from this
    # process (an in-process server, removed in issue 14) the scrape would be answered only after it
    began = time.monotonic()
    BACKTRACKING.match("a" * length)
    ended = time.monotonic()
    out, _ = client.communicate(timeout=60)
    status, answered = out.split()
    assert status == "200"
    assert began < float(answered) < ended, ("the scrape waited for the collecting process's GIL", ended - began)


def test_killed_serving_process_is_replaced_with_the_latest_exposition(
    served: tuple[Collector, IsolatedServer, str],
) -> None:
    collector, server, url = served
    collector.collect_once()
    _until("published", lambda: _published(url, collector))
    first = server.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    _until("a new serving process", lambda: server.pid not in (None, first) and server.restarts == 1)
    _until("the new process serves the latest exposition", lambda: _published(url, collector))
    assert get(url + "/readyz")[0] == 200


def test_serving_process_exits_with_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from exporter.cycle import Collector
        from exporter.serving import IsolatedServer
        collector = Collector([], timeout=1)
        server = IsolatedServer(collector, "127.0.0.1", 0)
        collector.collect_once()
        print(server.pid, flush=True)
        time.sleep(120)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        os.kill(child, 0)  # alive
        parent.kill()
        parent.wait(10)

        def gone() -> bool:
            try:
                os.kill(child, 0)
            except ProcessLookupError:
                return True
            # a zombie of the dead parent is reaped by init; treat "Z" as gone
            with open(f"/proc/{child}/stat") as fh:
                return fh.read().rsplit(")", 1)[1].split()[0] == "Z"

        _until("the orphaned serving process exits", gone)
    finally:
        if parent.poll() is None:
            parent.kill()


@pytest.mark.slow
def test_wedged_serving_process_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    from exporter import serving

    # short, but not so short that a replacement starting on a loaded machine is itself taken
    # for wedged (seen at 1 s with load average 50: a restart storm)
    monkeypatch.setattr(serving, "PUBLISH_TIMEOUT", 3.0)
    collector = Collector([SlowSource("steady", 0)], timeout=5)
    server = IsolatedServer(collector, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        collector.collect_once()
        assert server.wait_published(1, 20)
        wedged = server.pid
        assert wedged is not None
        os.kill(wedged, signal.SIGSTOP)  # alive, but never reads again
        collector.collect_once()
        _until("the wedged process is replaced", lambda: server.restarts == 1 and server.pid != wedged)
        assert server.wait_published(2, 20)
        assert _published(url, collector)
    finally:
        server.shutdown()
        collector.stop()

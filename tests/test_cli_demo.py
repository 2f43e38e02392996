"""The real process: the README's main command (demo), unreachable brokers, clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from exporter.demo.broker import free_port
from tests._exposition import Parsed

pytestmark = pytest.mark.tansu  # the demo runs the embedded broker


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _metrics(port: int) -> Parsed:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return Parsed(response.read())


def _wait_for(proc: subprocess.Popen[str], pattern: str, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return line
    raise AssertionError(f"{pattern!r} not seen in output: {''.join(seen)[-2000:]}")


def test_demo_starts_serves_and_ctrl_c_leaves_nothing_behind() -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_INSIGHT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        _wait_for(proc, rf"Demo running: open http://127\.0\.0\.1:{port}/", 60)
        children = _children(proc.pid)
        assert children, "the demo broker should run as a child process"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            m = _metrics(port)
            if (m.value("kafka_insight_partition_log_end_offset", topic="orders", partition=0) or 0) > 0:
                break
            time.sleep(0.5)
        assert (m.value("kafka_insight_partition_log_end_offset", topic="orders", partition=0) or 0) > 0
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        time.sleep(0.2)
        for child in children:
            assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2], child
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_sigkilled_demo_leaves_no_broker_behind() -> None:
    """SIGKILL gives the exporter no chance to stop its broker: the broker must go by itself."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_INSIGHT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    children: list[int] = []
    try:
        _wait_for(proc, rf"Demo running: open http://127\.0\.0\.1:{port}/", 60)
        children = _children(proc.pid)
        brokers = [pid for pid in children if "--listener-url" in _cmdline(pid)]
        assert len(brokers) == 1, {pid: _cmdline(pid) for pid in children}
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 5
        while not _gone(brokers[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _gone(brokers[0]), f"demo broker {brokers[0]} still running after its exporter was SIGKILLed"
        deadline = time.monotonic() + 15  # the Python children notice their parent's pipes closing
        while not all(_gone(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(_gone(pid) for pid in children), {pid: _cmdline(pid) for pid in children if not _gone(pid)}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in children:  # never leave a broker behind, even when the test fails
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


def test_unreachable_brokers_are_not_a_config_error() -> None:
    port, dead = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exporter",
            "--web.listen-address",
            f"127.0.0.1:{port}",
            "--kafka.bootstrap-servers",
            f"127.0.0.1:{dead}",
            "--collection.interval",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(proc, r"serving http://", 30)
        deadline = time.monotonic() + 40
        cycles = 0.0
        while time.monotonic() < deadline and cycles < 3:
            time.sleep(1)
            m = _metrics(port)
            cycles = m.value("kafka_insight_collections_total") or 0
        assert cycles >= 3, "the exporter keeps retrying every cycle"
        assert m.value("kafka_insight_source_up", source="admin", target=f"127.0.0.1:{dead}") == 0
        assert (m.value("kafka_insight_source_errors_total", source="admin", target=f"127.0.0.1:{dead}") or 0) >= 3
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0
        down = [line for line in output.splitlines() if "is down" in line]
        assert len(down) == 1, output  # the reason is logged once, not every cycle
        assert f"127.0.0.1:{dead}" in down[0]
        assert "Traceback" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

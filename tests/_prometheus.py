"""A real Prometheus (Debian's /usr/bin/prometheus) for the mixin tests: temporary data dir,
free port, 1 s scrape and rule interval, the generated rules loaded."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from exporter.demo.broker import free_port

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "alerts" / "kafka-insight-rules.yml"
JOB = "kafka-insight"


class Prometheus:
    def __init__(self, tmp: Path, targets: list[str], rules: Path = RULES) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).exists():
            pytest.fail("prometheus not found: install the Debian package prometheus")
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = tmp / "prometheus.log"
        (tmp / "prometheus.yml").write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
                    "rule_files": [str(rules)],
                    "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
                }
            )
        )
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def api(self, path: str, **params: str) -> dict[str, Any]:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                data: dict[str, Any] = json.load(response)
        except urllib.error.HTTPError as exc:
            data = json.load(exc)
        return data

    def query(self, expr: str) -> dict[str, Any]:
        return self.api("query", query=expr)

    def stop(self) -> None:
        stop_process(self.process, 10)


def stop_process(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM, then SIGKILL when it has not exited within ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    procs: Sequence[subprocess.Popen[bytes]] = (),
    logs: Sequence[Path] = (),
) -> Any:
    """Poll ``check`` until it returns something truthy; fail early when a process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc, log in zip(procs, logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}: {log.read_text()[-1500:]}")
        try:
            result = check()
        except (OSError, ValueError, KeyError):
            result = None
        if result:
            return result
        time.sleep(0.3)
    tail = logs[-1].read_text()[-1500:] if logs else ""
    raise TimeoutError(f"timed out waiting for {what}: {tail}")

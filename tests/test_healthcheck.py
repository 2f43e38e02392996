"""The Dockerfile's HEALTHCHECK command, run as the container would run it (no container engine
here): against a real exporter process with plain HTTP, with web TLS and basic auth, with
client certificates required, and after the exporter is gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from exporter.demo.broker import free_port
from tests._security_pki import Pki, make_pki
from tests.test_dockerfile import instructions

HASH = bcrypt.hashpw(b"probe-Pass-1", bcrypt.gensalt(rounds=4)).decode()


def healthcheck_command() -> list[str]:
    (health,) = [args for word, args in instructions() if word == "HEALTHCHECK"]
    command = json.loads(health.split(" CMD ", 1)[1])  # exec (JSON) form
    assert command[0] == "python", command  # the image's python, which has the package installed
    return [sys.executable, *command[1:]]


def run_healthcheck(address: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_INSIGHT_WEB_LISTEN_ADDRESS": address}
    return subprocess.run(healthcheck_command(), env=env, capture_output=True, text=True, timeout=10)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("health-pki"))


def web_config(pki: Pki, client_auth: bool) -> Path:
    lines = ["tls_server_config:", f"  cert_file: {pki.server_cert}", f"  key_file: {pki.server_key}"]
    if client_auth:
        lines += ["  client_auth_type: RequireAndVerifyClientCert", f"  client_ca_file: {pki.ca}"]
    lines += ["basic_auth_users:", f"  prometheus: {HASH}"]
    path = pki.dir / f"web-{client_auth}.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def exporter(port: int, web: Path | None) -> Iterator[subprocess.Popen[bytes]]:
    """The exporter as the image runs it, against a broker that is not there (it still serves)."""
    args = [sys.executable, "-m", "exporter", "--web.listen-address", f"127.0.0.1:{port}"]
    args += ["--kafka.bootstrap-servers", f"127.0.0.1:{free_port()}"]
    # short cycles: SIGTERM waits for the running cycle, which at the default 20 s deadline waits
    # 10 s on the absent broker (11 s from SIGTERM to exit, seen); the probe does not care
    args += ["--collection.interval", "2"]
    if web:
        args += ["--web.config.file", str(web)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_INSIGHT_")}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"exporter exited with {proc.returncode}"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"exporter not listening on {port}")


@pytest.mark.parametrize("mode", ["http", "tls", "tls-client-cert"])
def test_healthcheck_passes_while_the_exporter_answers_and_fails_after(mode: str, pki: Pki) -> None:
    port = free_port()
    web = None if mode == "http" else web_config(pki, client_auth=mode == "tls-client-cert")
    runner = exporter(port, web)
    proc = next(runner)
    try:
        wait_listening(port, proc)
        if web is not None:  # really TLS: a plain-HTTP request gets no HTTP answer
            with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=4)
        done = run_healthcheck(f":{port}")  # the image's form: wildcard host
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        runner.close()
    assert proc.poll() is not None
    deadline = time.monotonic() + 15  # the serving process holds the socket until it has noticed
    while (done := run_healthcheck(f"127.0.0.1:{port}")).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"127.0.0.1:{port}" in done.stderr


def test_healthcheck_fails_on_a_server_that_answers_500(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import http.server, sys\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        self.send_response(500); self.end_headers()\n"
            "    def log_message(self, *a): pass\n"
            f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n",
        ]
    )
    try:
        wait_listening(port, server)
        done = run_healthcheck(f"127.0.0.1:{port}")
        assert done.returncode == 1 and ": 500" in done.stderr, done.stdout + done.stderr
    finally:
        server.kill()
        server.wait()

"""TLS, client certificates and basic auth on the exporter's own endpoints (issue 9).

Real HTTPS clients, a real exporter process against Tansu and a real Prometheus
(/usr/bin/prometheus) scraping through TLS + basic auth; `promtool check web-config`
validates the same files the tests use.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest

from exporter import cli, webconfig
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker, free_port
from exporter.serving import IsolatedServer
from tests._security_pki import Pki, make_pki
from tests._serving import published, serve

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "s3cret-Scrape-Pass"
WRONG = "wrong-Guess-1234"
#: cost 4 keeps the tests fast; production hashes use 10-12
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def write_web_config(path: Path, pki: Pki, client_auth: str | None = None, users: bool = True) -> Path:
    lines = ["tls_server_config:", f"  cert_file: {pki.server_cert.name}", f"  key_file: {pki.server_key.name}", "  min_version: TLS12"]
    if client_auth:
        lines += [f"  client_auth_type: {client_auth}", f"  client_ca_file: {pki.ca.name}"]
    if users:
        lines += ["basic_auth_users:", f"  prometheus: {HASH}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def collector() -> Collector:
    c = Collector([], interval=60, timeout=1)
    c.collect_once()
    return c


def start(collector: Collector, config_file: Path, probes_without_auth: bool = False) -> IsolatedServer:
    server = serve(collector, web_config_file=str(config_file), probes_without_auth=probes_without_auth)
    published(server)
    return server


def tls_client(pki: Pki, cert: tuple[Path, Path] | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca))
    if cert:
        ctx.load_cert_chain(str(cert[0]), str(cert[1]))
    return ctx


def get(server: IsolatedServer, ctx: ssl.SSLContext, path: str = "/metrics", user: str | None = None, password: str = "") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPSConnection("localhost", server.server_address[1], context=ctx, timeout=5)
    headers = {}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


@pytest.fixture
def secret_free_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, WRONG, base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()):
        assert secret not in text


def test_tls_and_basic_auth(pki: Pki, collector: Collector, tmp_path: Path, secret_free_logs: None) -> None:
    cfg = write_web_config(pki.dir / "web-basic.yml", pki)
    server = start(collector, cfg)
    try:
        ctx = tls_client(pki)
        status, _, body = get(server, ctx, user="prometheus", password=PASSWORD)
        assert status == 200 and b"kafka_insight_build_info" in body
        for user, password in ((None, ""), ("prometheus", WRONG), ("nobody", PASSWORD), ("prometheus", "x" * 100)):
            status, headers, _ = get(server, ctx, user=user, password=password)
            assert status == 401, (user, password)
            assert headers["WWW-Authenticate"].startswith("Basic ")
        # every endpoint is protected unless the operator opts the probes out
        for path in ("/healthz", "/readyz", "/", "/nope"):
            assert get(server, ctx, path)[0] == 401
        assert get(server, ctx, "/healthz", "prometheus", PASSWORD)[0] == 200
        # plain HTTP to the TLS port gets nothing useful
        with pytest.raises((http.client.HTTPException, OSError)):
            conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
            conn.request("GET", "/metrics")
            assert conn.getresponse().status != 200
    finally:
        server.shutdown()
    # only right answers are cached (keyed by a hash), so guessing never fills the cache; the
    # cache lives in the serving process, so the same checks are run on the same config here
    auth = webconfig.load(str(cfg)).auth
    assert auth is not None
    for user, password in (("prometheus", PASSWORD), ("prometheus", WRONG), ("nobody", PASSWORD), ("prometheus", PASSWORD)):
        header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        assert auth.check(header) == (user == "prometheus" and password == PASSWORD)
    assert len(auth._ok) == 1
    assert PASSWORD.encode() not in b"".join(auth._ok)


def test_probes_without_auth_is_opt_in(pki: Pki, collector: Collector) -> None:
    server = start(collector, write_web_config(pki.dir / "web-probes.yml", pki), probes_without_auth=True)
    try:
        ctx = tls_client(pki)
        assert get(server, ctx, "/healthz")[0] == 200
        assert get(server, ctx, "/readyz")[0] == 200
        assert get(server, ctx, "/metrics")[0] == 401
        assert get(server, ctx, "/")[0] == 401
    finally:
        server.shutdown()


def test_client_certificates_required(pki: Pki, collector: Collector) -> None:
    server = start(collector, write_web_config(pki.dir / "web-mtls.yml", pki, "RequireAndVerifyClientCert"))
    try:
        good = tls_client(pki, (pki.client_cert, pki.client_key))
        assert get(server, good, user="prometheus", password=PASSWORD)[0] == 200
        assert get(server, good)[0] == 401  # a certificate does not replace the password
        for ctx in (tls_client(pki), tls_client(pki, (pki.rogue_cert, pki.rogue_key))):
            with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                get(server, ctx, user="prometheus", password=PASSWORD)
        # the accept loop is not blocked by failed handshakes
        assert get(server, good, user="prometheus", password=PASSWORD)[0] == 200
    finally:
        server.shutdown()


def test_verify_client_cert_if_given(pki: Pki, collector: Collector) -> None:
    server = start(collector, write_web_config(pki.dir / "web-opt.yml", pki, "VerifyClientCertIfGiven", users=False))
    try:
        assert get(server, tls_client(pki))[0] == 200
        assert get(server, tls_client(pki, (pki.client_cert, pki.client_key)))[0] == 200
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            get(server, tls_client(pki, (pki.rogue_cert, pki.rogue_key)))
    finally:
        server.shutdown()


@pytest.mark.skipif(not shutil.which("promtool"), reason="promtool (Debian package prometheus) not installed")
def test_promtool_accepts_the_files(pki: Pki) -> None:
    files = [
        write_web_config(pki.dir / "web-basic.yml", pki),
        write_web_config(pki.dir / "web-mtls.yml", pki, "RequireAndVerifyClientCert"),
    ]
    done = subprocess.run(["promtool", "check", "web-config", *map(str, files)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    for f in files:
        assert webconfig.load(str(f)).tls is not None


BAD_WEB_CONFIGS = {
    "unknown top key": "tls_config:\n  cert_file: a\n",
    "unknown tls key": "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  certfile: x\n",
    "missing key_file": "tls_server_config:\n  cert_file: server.crt\n",
    "unreadable cert": "tls_server_config:\n  cert_file: missing.crt\n  key_file: server.key\n",
    "key is not a key": "tls_server_config:\n  cert_file: server.crt\n  key_file: ca.crt\n",
    "bad client auth": "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Always\n",
    "verify without CA": "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n",
    "unverifiable client auth": "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n",
    "bad min_version": "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS14\n",
    "cipher suites": "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
    "plain password": "basic_auth_users:\n  prometheus: hunter2-plain\n",
    "cost too high": "basic_auth_users:\n  prometheus: '$2b$31$" + "a" * 53 + "'\n",
    "users not a map": "basic_auth_users: [a, b]\n",
    "not yaml": "tls_server_config: [\n",
    "a list": "- a\n- b\n",
    "bad header": "http_server_config:\n  headers:\n    'Bad Header': x\n",
}


@pytest.mark.parametrize("name", sorted(BAD_WEB_CONFIGS))
def test_bad_web_config_is_one_clear_line(name: str, pki: Pki, capsys: pytest.CaptureFixture[str]) -> None:
    path = pki.dir / f"bad-{name.replace(' ', '-')}.yml"
    path.write_text(BAD_WEB_CONFIGS[name])
    assert cli.main(["--check-config", "--web.config.file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("kafka-insight-exporter: config error: web.config.file: "), err
    assert "Traceback" not in err and "hunter2-plain" not in err


def test_missing_web_config_from_env(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_INSIGHT_WEB_CONFIG_FILE", "/nonexistent/web.yml")
    assert cli.main(["--check-config"]) == 2
    assert "web.config.file: cannot read web config file /nonexistent/web.yml" in capsys.readouterr().err


# -- a real Prometheus scraping a real exporter process through mTLS + basic auth ---------
def _wait_http(url: str, timeout: float, context: ssl.SSLContext | None = None, headers: dict[str, str] | None = None) -> bytes:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2, context=context) as r:
                return bytes(r.read())
        except Exception as exc:
            last = exc
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer: {last}")


@pytest.mark.skipif(not shutil.which("prometheus"), reason="prometheus (Debian package) not installed")
def test_real_prometheus_scrapes_through_tls_and_basic_auth(pki: Pki, tansu: TansuBroker, tmp_path: Path) -> None:
    web = write_web_config(pki.dir / "web-mtls.yml", pki, "RequireAndVerifyClientCert")
    port, prom_port = free_port(), free_port()
    (tmp_path / "exporter.yml").write_text("collection:\n  interval_seconds: 2\n  timeout_seconds: 2\n")
    exporter = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--config.file", str(tmp_path / "exporter.yml"),
         "--kafka.bootstrap-servers", tansu.bootstrap, "--web.listen-address", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env={**os.environ, "KAFKA_INSIGHT_WEB_CONFIG_FILE": str(web)},  # the environment variable form
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "exporter.log", "wb"),  # noqa: SIM115
    )
    (tmp_path / "password").write_text(PASSWORD)
    (tmp_path / "prometheus.yml").write_text(
        f"""global: {{scrape_interval: 1s, scrape_timeout: 1s}}
scrape_configs:
  - job_name: kafka-insight
    scheme: https
    tls_config: {{ca_file: {pki.ca}, cert_file: {pki.client_cert}, key_file: {pki.client_key}, server_name: localhost}}
    basic_auth: {{username: prometheus, password_file: {tmp_path / 'password'}}}
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"""
    )
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{prom_port}"],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "prometheus.log", "wb"),  # noqa: SIM115
    )
    try:
        auth = {"Authorization": "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()}
        _wait_http(f"https://localhost:{port}/healthz", 20, tls_client(pki, (pki.client_cert, pki.client_key)), auth)
        deadline = time.monotonic() + 60  # a cycle may time out on a loaded machine: wait for one that does not
        up: list[dict[str, object]] = []
        source_up: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            q = urllib.parse.quote('up{job="kafka-insight"}')
            body = _wait_http(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}", 10)
            up = json.loads(body)["data"]["result"]
            q = urllib.parse.quote('kafka_insight_source_up{source="admin"}')
            source_up = json.loads(_wait_http(f"http://127.0.0.1:{prom_port}/api/v1/query?query={q}", 10))["data"]["result"]
            if up and up[0]["value"][1] == "1" and source_up and source_up[0]["value"][1] == "1":  # type: ignore[index]
                break
            time.sleep(0.3)
        assert up and up[0]["value"][1] == "1", (up, (tmp_path / "prometheus.log").read_text()[-2000:])  # type: ignore[index]
        assert source_up and source_up[0]["value"][1] == "1"  # type: ignore[index]
        assert PASSWORD not in (tmp_path / "exporter.log").read_text()
    finally:
        for proc in (prom, exporter):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

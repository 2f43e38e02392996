"""Kafka Connect source (issue 18): config validation, bad REST answers, mapping of the
recorded REST and JMX outputs of a real worker (tests/fixtures/connect, see record.py there).

The bad answers come from a real HTTP server on a free port that answers like a broken
Connect REST API would (HTML, 500, garbage JSON, a hang, a refused password).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from exporter import config
from exporter.configbase import ConfigError
from exporter.cycle import Collector
from exporter.demo.broker import free_port
from exporter.exposition import render_text
from exporter.metrics import Samples
from exporter.sources.connect import specs as cn
from exporter.sources.connect.config import ConnectClusterConfig, ConnectConfig
from exporter.sources.connect.emit import emit_cluster, emit_worker
from exporter.sources.connect.jmx import parse_worker
from exporter.sources.connect.rest import exception_class, parse_cluster
from exporter.sources.connect.source import ConnectSource
from exporter.sources.jmx.rows import load_dump
from tests._exposition import Parsed

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "connect"
ROOT_ANSWER = {"version": "4.0.0", "commit": "985bc99521dd22bb", "kafka_cluster_id": "abc"}


# -- config --------------------------------------------------------------------------------
def _load(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "c.yml"
    path.write_text(text)
    return config.load(str(path))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("connect: {clusters: []}", "connect.clusters: list at least one"),
        ("connect: {clusters: [{name: a}]}", "connect.clusters[0].url: missing"),
        ("connect: {clusters: [ftp://x]}", "connect.clusters[0].url: 'ftp://x' is not an http"),
        ("connect: {clusters: [{url: 'http://a:8083', timeout_seconds: 0}]}", "connect.clusters[0].timeout_seconds: expected a number"),
        ("connect: {clusters: [{url: 'http://a:8083', username: u}]}", "connect.clusters[0]: set both username and password"),
        ("connect: {clusters: [{url: 'http://a:8083', tls: {ca_file: /nonexistent}}]}", "connect.clusters[0].tls.ca_file: cannot read"),
        ("connect: {clusters: [{url: 'http://a:8083', tls: {insecure_skip_verify: true}}]}", "connect.clusters[0].tls: TLS settings need an https"),
        ("connect: {clusters: [{url: 'http://a:8083', urll: x}]}", "connect.clusters[0].urll: unknown key; did you mean 'url'"),
        ("connect: {clusters: ['http://a:8083', 'http://a:8083']}", "connect.clusters[1].name: Connect cluster 'http://a:8083' is listed twice"),
        ("connect: {clusters: [{url: 'http://a:8083', jmx: ['nohost']}]}", "connect.clusters[0].jmx[0].address: 'nohost' is not host:port"),
        ("connect: {clusters: [{url: 'http://a:8083', password: '${env:KI_NO_SUCH_VAR}', username: u}]}", "connect.clusters[0].password: environment variable"),
    ],
)
def test_config_errors_name_the_yaml_path(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, text)
    assert str(info.value).startswith(error), str(info.value)


def test_config_valid_and_off_by_default(tmp_path: Path) -> None:
    assert config.load(None).connect is None
    cfg = _load(
        tmp_path,
        "connect:\n  clusters:\n    - {url: 'https://c1:8083/', name: main, timeout_seconds: 2, username: u, password: p,"
        " jmx: ['c1:9999']}\n    - http://c2:8083\n",
    )
    section = cfg.connect
    assert isinstance(section, ConnectConfig)
    main, other = section.clusters
    assert (main.url, main.name, main.timeout, main.username, main.password) == ("https://c1:8083", "main", 2.0, "u", "p")
    assert [t.address for t in main.jmx] == ["c1:9999"]
    assert (other.name, other.timeout) == ("http://c2:8083", 5.0)
    from exporter.app import build_collector

    assert "connect" in [s.name for s in build_collector(cfg).sources]
    assert "connect" not in [s.name for s in build_collector(config.load(None)).sources]


# -- bad answers -------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    mode = "ok"
    auth: str | None = None

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the exporter gave up first (hang)
            self.wfile.write(body)

    def do_GET(self) -> None:
        mode = type(self).mode
        if type(self).auth and self.headers.get("Authorization") != type(self).auth:
            self._send(401, b'{"error_code":401,"message":"User cannot access the resource."}')
            return
        if mode == "html":
            self._send(200, b"<html><body>Welcome to nginx</body></html>", "text/html")
        elif mode == "500":
            self._send(500, b'{"error_code":500,"message":"Request timed out"}')
        elif mode == "garbage":
            self._send(200, b'{"version": "4.0.0", "kafka_cluster_id": ')
        elif mode == "wrong_shape":
            self._send(200, b'["not", "an", "object"]')
        elif mode == "hang":
            time.sleep(3)
            self._send(200, b"{}")
        elif self.path == "/":
            self._send(200, json.dumps(ROOT_ANSWER).encode())
        elif self.path.startswith("/connectors?"):
            self._send(200, (FIXTURES / "rest-connectors.json").read_bytes())
        elif self.path.startswith("/connectors/"):
            name = self.path.split("/")[2]
            path = FIXTURES / f"rest-tasks-{name}.json"
            self._send(200, path.read_bytes() if path.exists() else b"[]")
        else:
            self._send(404, b'{"error_code":404}')


@pytest.fixture
def fake_rest() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"mode": "ok", "auth": None})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _cycle(url: str, **kw: Any) -> tuple[Collector, Parsed]:
    cluster = ConnectClusterConfig(url=url, name="main", timeout=kw.pop("timeout", 1.0), **kw)
    collector = Collector([ConnectSource(ConnectConfig((cluster,)), 5.0)], interval=5, timeout=5)
    collector.collect_once()
    return collector, Parsed(collector.exposition.body)


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("html", "GET /: not JSON (text/html): Expecting value; starts with '<html><body>Welcome to nginx</body></html>'"),
        ("500", "GET /: HTTP 500 Internal Server Error: Request timed out"),
        ("garbage", """GET /: not JSON (application/json): Expecting value; starts with '{"version": "4.0.0", "kafka_cluster_id":'"""),
        ("wrong_shape", "GET /: expected an object with version and kafka_cluster_id, got a list"),
        ("hang", "GET /: no answer within 1.0 s"),
    ],
)
def test_bad_answers_give_source_up_0_and_one_log_line(
    fake_rest: tuple[str, type[_Handler]], caplog: pytest.LogCaptureFixture, mode: str, reason: str
) -> None:
    url, handler = fake_rest
    handler.mode = mode
    caplog.set_level(logging.WARNING)
    t0 = time.monotonic()
    collector, parsed = _cycle(url)
    assert time.monotonic() - t0 < 2.5
    assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 0
    assert not parsed.series("kafka_insight_connect_connector_state")
    lines = [r.getMessage() for r in caplog.records if "connect" in r.getMessage()]
    assert lines == [f"source connect target main is down: Connect main: {reason}"], lines
    collector.collect_once()  # still down: no second line
    assert len([r for r in caplog.records if "connect" in r.getMessage()]) == 1
    handler.mode = "ok"
    collector.collect_once()
    parsed = Parsed(collector.exposition.body)
    assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 1
    assert parsed.series("kafka_insight_connect_connector_state")


def test_basic_auth_refused_then_accepted(fake_rest: tuple[str, type[_Handler]], caplog: pytest.LogCaptureFixture) -> None:
    import base64

    url, handler = fake_rest
    handler.auth = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    caplog.set_level(logging.WARNING)
    _, parsed = _cycle(url, username="admin", password="wrong")
    assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 0
    assert any("HTTP 401" in r.getMessage() and "check connect username/password" in r.getMessage() for r in caplog.records)
    assert not any("wrong" in r.getMessage() for r in caplog.records)
    _, parsed = _cycle(url, username="admin", password="s3cret")
    assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 1


def test_unreachable_cluster(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    _, parsed = _cycle(f"http://127.0.0.1:{free_port()}")
    assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 0
    assert any("Connection refused" in r.getMessage() for r in caplog.records)


def test_exception_class_is_bounded() -> None:
    trace = "org.apache.kafka.connect.errors.ConnectException: /x/y: secret detail\n\tat A.b(A.java:1)\nCaused by: java.nio.file.NoSuchFileException: /x/y\n"
    assert exception_class(trace) == ("org.apache.kafka.connect.errors.ConnectException", "java.nio.file.NoSuchFileException")
    assert exception_class("garbage with spaces: and more") == ("unknown", "unknown")
    assert exception_class(None) == (None, None)
    long = "a." * 500 + "E: x"
    head, _ = exception_class(long)
    assert head is not None and len(head) <= 200


def test_malformed_connector_entries_are_skipped_and_noted() -> None:
    listing = {
        "ok": {"status": {"connector": {"state": "RUNNING", "worker_id": "w1"}, "tasks": [{"id": 0, "state": "BOGUS", "worker_id": "w1"}], "type": "sink"}},
        "bad": "x",
        "noid": {"status": {"connector": {"state": "RUNNING"}, "tasks": [{"state": "RUNNING"}], "type": "source"}},
    }
    c = parse_cluster("main", "http://x", ROOT_ANSWER, listing)
    assert [k.name for k in c.connectors] == ["noid", "ok"]
    assert c.connectors[1].tasks[0].state == "UNASSIGNED"
    assert any("unknown state 'BOGUS'" in e for e in c.errors)
    assert any("'bad': no status" in e for e in c.errors)
    assert any("a task without an id" in e for e in c.errors)
    out = Samples()
    emit_cluster(c, out)
    Parsed(render_text(out))  # renders


# -- recorded outputs of a real worker ---------------------------------------------------------
def _v(p: Parsed, name: str, **labels: str | int) -> float | None:
    """The value of the one series of ``name`` whose labels include ``labels`` (None if none)."""
    found = p.series(name, **labels)
    assert len(found) <= 1, found
    return found[0][1] if found else None


def _recorded() -> tuple[Any, Any, dict[str, Any]]:
    root = json.loads((FIXTURES / "rest-root.json").read_text())
    listing = json.loads((FIXTURES / "rest-connectors.json").read_text())
    tasks = {p.name[len("rest-tasks-") : -5]: json.loads(p.read_text()) for p in FIXTURES.glob("rest-tasks-*.json")}
    return root, listing, tasks


def test_recorded_rest_mapping() -> None:
    root, listing, tasks = _recorded()
    c = parse_cluster("main", "http://x", root, listing)
    for k in c.connectors:
        k.configured_tasks = len(tasks[k.name])
    assert not c.errors
    out = Samples()
    emit_cluster(c, out)
    p = Parsed(render_text(out))
    info = p.series("kafka_insight_connect_cluster_info")
    assert [(s["version"], s["cluster_id"]) for s, _ in info] == [(root["version"], root["kafka_cluster_id"])]
    for name, entry in listing.items():
        status = entry["status"]
        ctype = status["type"]
        states = {s["state"]: v for s, v in p.series("kafka_insight_connect_connector_state", connector=name)}
        assert states == {st: (1.0 if st == status["connector"]["state"] else 0.0) for st in cn._STATES.split(", ")}
        for t in status["tasks"]:
            series = p.series("kafka_insight_connect_task_state", connector=name, task=t["id"], state=t["state"])
            assert [(s["worker"], s["connector_type"], v) for s, v in series] == [(t["worker_id"], ctype, 1.0)]
        failed = [t for t in status["tasks"] if t["state"] == "FAILED"]
        assert _v(p, "kafka_insight_connect_connector_failed_tasks", connector=name) == len(failed)
        assert _v(p, "kafka_insight_connect_connector_configured_tasks", connector=name) == len(tasks[name])
        groups = p.series("kafka_insight_connect_connector_group_info", connector=name)
        assert [s["group"] for s, _ in groups] == ([f"connect-{name}"] if ctype == "sink" else [])
        tolerance = entry["info"]["config"].get("errors.tolerance") == "all"
        assert _v(p, "kafka_insight_connect_connector_tolerates_errors", connector=name) == (1.0 if tolerance else 0.0)
    # the recorded scenario: a sink whose output path cannot be written fails
    failure = p.series("kafka_insight_connect_task_failure_info", connector="file-sink-broken")
    assert len(failure) == 1
    labels = failure[0][0]
    assert labels["exception"] == "org.apache.kafka.connect.errors.ConnectException"
    assert labels["root_cause"].startswith("java.") and "Exception" in labels["root_cause"]
    assert all(len(v) <= 200 and "\n" not in v for s, _ in p.series("kafka_insight_connect_task_failure_info") for v in s.values())
    workers = {k["status"]["connector"].get("worker_id") for k in listing.values()} | {
        t["worker_id"] for k in listing.values() for t in k["status"]["tasks"]
    }
    assert _v(p, "kafka_insight_connect_workers", connect_cluster="main") == len(workers - {None})


def test_recorded_jmx_mapping() -> None:
    doc = json.loads((FIXTURES / "jmx-worker.json").read_text())
    rows = load_dump(FIXTURES / "jmx-worker.json")
    w = parse_worker(rows, "w:1")
    w.cluster = "main"
    assert not w.errors
    raw: dict[tuple[str, str], Any] = {(m["mbean"], a): v[0] for m in doc["mbeans"] for a, v in m["attributes"].items()}
    out = Samples()
    emit_worker(w, out)
    p = Parsed(render_text(out))
    # every precomputed rate is dropped; every *-total became a _total counter with the same value
    assert not [n for n in p.names() if n.endswith("_rate")]
    worker_mbean = "kafka.connect:type=connect-worker-metrics"
    assert _v(p, "kafka_insight_connect_worker_jmx_connectors", target="w:1") == raw[(worker_mbean, "connector-count")]
    rebalance = "kafka.connect:type=connect-worker-rebalance-metrics"
    assert _v(p, "kafka_insight_connect_worker_rebalances_total", target="w:1") == raw[(rebalance, "completed-rebalances-total")]
    age = raw[(rebalance, "time-since-last-rebalance-ms")]
    assert _v(p, "kafka_insight_connect_worker_last_rebalance_age_seconds", target="w:1") == pytest.approx(age / 1000)
    checked = 0
    for (mbean, attr), value in raw.items():
        if ",task=" not in mbean or not isinstance(value, (int, float)) or value != value:
            continue
        props = dict(kv.split("=", 1) for kv in mbean.split(":", 1)[1].split(","))
        from exporter.sources.connect.jmx import TASK_ATTRS

        if attr not in TASK_ATTRS:
            assert "rate" in attr or attr.endswith(("-max-time-ms", "-avg", "-max")) or attr in (
                "offset-commit-max-time-ms",
                "poll-batch-max-time-ms",
                "put-batch-max-time-ms",
                "sink-record-active-count-avg",
                "sink-record-active-count-max",
                "source-record-active-count-avg",
                "source-record-active-count-max",
                "sink-record-lag-max",
                "offset-commit-seq-no",  # a sequence number, not a measurement
            ), attr
            continue
        field, unit = TASK_ATTRS[attr]
        spec = cn.TASK[field]
        if field == "last_error_timestamp_seconds" and value <= 0:
            continue
        got = _v(p, spec.name, connector=props["connector"], task=props["task"])
        assert got == pytest.approx(value / 1000 if unit == "ms" else value), (mbean, attr)
        checked += 1
    assert checked > 20
    skipped = _v(p, "kafka_insight_connect_task_records_skipped_total", connector="file-sink-tolerant", task="0")
    assert skipped is not None and skipped >= 1


# -- interpretation: ordering of source connectors ------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "version", "expected"),
    [
        ({}, "4.0.0", ("safe", "assumed_defaults")),
        ({"producer.override.max.in.flight.requests.per.connection": "5"}, "4.0.0", ("reorders", "declared")),
        (
            {"producer.override.max.in.flight.requests.per.connection": "5", "producer.override.enable.idempotence": "true"},
            "4.0.0",
            ("safe", "declared"),
        ),
        ({"producer.override.acks": "0"}, "4.0.0", ("no_retries", "declared")),
        ({"producer.override.max.in.flight.requests.per.connection": "5"}, None, ("unknown", "declared")),
        ({"producer.override.linger.ms": "100"}, "2.5.0", ("safe", "assumed_defaults")),
    ],
)
def test_source_connector_ordering_verdict(overrides: dict[str, str], version: str | None, expected: tuple[str, str]) -> None:
    from exporter.interpret.connect import emit_connect

    listing = {
        "src": {"status": {"connector": {"state": "RUNNING", "worker_id": "w"}, "tasks": [], "type": "source"},
                "info": {"config": {"connector.class": "X", **overrides}, "type": "source"}},
        "snk": {"status": {"connector": {"state": "RUNNING", "worker_id": "w"}, "tasks": [], "type": "sink"},
                "info": {"config": dict(overrides), "type": "sink"}},
    }
    c = parse_cluster("main", "http://x", {**ROOT_ANSWER, "version": version}, listing)
    out = Samples()
    emit_connect([c], out)
    p = Parsed(render_text(out))
    ones = [(s["verdict"], s["basis"]) for s, v in p.series("kafka_insight_connect_connector_reordering_risk") if v == 1]
    assert ones == [expected]
    assert not p.series("kafka_insight_connect_connector_reordering_risk", connector="snk")


def test_recorded_source_with_overrides_reorders() -> None:
    from exporter.interpret.connect import connector_verdict

    root, listing, _ = _recorded()
    c = parse_cluster("main", "http://x", root, listing)
    source = next(k for k in c.connectors if k.name == "file-source")
    assert connector_verdict(c.version, source) == ("reorders", "declared")


# -- TLS ----------------------------------------------------------------------------------------
def test_tls_verified_with_ca_and_client_certificate(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import ssl

    from exporter.sources.connect.config import RestTls
    from tests._security_pki import make_pki

    pki = make_pki(tmp_path / "pki")
    handler = type("Handler", (_Handler,), {"mode": "ok", "auth": None})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.load_verify_locations(pki.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: the exporter must show its client certificate
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://127.0.0.1:{server.server_address[1]}"
    caplog.set_level(logging.WARNING)
    try:
        good = RestTls(ca_file=str(pki.ca), cert_file=str(pki.client_cert), key_file=str(pki.client_key))
        _, parsed = _cycle(url, tls=good)
        assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 1
        assert parsed.series("kafka_insight_connect_connector_state")
        # the system trust store does not know the test CA: refused, one clear line
        _, parsed = _cycle(url, tls=RestTls(cert_file=str(pki.client_cert), key_file=str(pki.client_key)))
        assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 0
        assert any("CERTIFICATE_VERIFY_FAILED" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
        # no client certificate: the server refuses the handshake
        caplog.clear()
        _, parsed = _cycle(url, tls=RestTls(ca_file=str(pki.ca)))
        assert parsed.value("kafka_insight_source_up", source="connect", target="main") == 0
        assert [r.getMessage() for r in caplog.records if "is down" in r.getMessage()]
    finally:
        server.shutdown()
        server.server_close()

"""Kafka client security pass-through (issue 9): SSL / SASL settings reach librdkafka,
secrets come from the environment or files, are validated at load time and never appear
in logs, errors or /metrics; a SASL client against a plaintext broker (Tansu) is a clear
source error while /metrics keeps answering.  (A TLS client against Tansu's plaintext
listener just times out: Tansu waits for the rest of a "frame" instead of closing, so there
is no cause to report; Tansu's own --cert option did not enable TLS in 0.6.0.)"""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

import pytest

from exporter import cli, config
from exporter.cycle import Collector
from exporter.demo.broker import TansuBroker
from exporter.sources.admin.source import AdminSource
from tests._security_pki import Pki, make_pki
from tests._serving import published, serve

SECRET = "Kafka-Secret-Pa55word"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("kpki"))


def load_client(tmp_path: Path, client: dict[str, str], servers: str = "127.0.0.1:9092") -> config.Config:
    import yaml

    path = tmp_path / "c.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {"bootstrap_servers": servers, "client": client, "request_timeout_seconds": 2},
                "collection": {"interval_seconds": 5, "timeout_seconds": 4},
            }
        )
    )
    return config.load(str(path))


def test_security_settings_pass_validation(tmp_path: Path, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIE_SASL_PASSWORD", SECRET)
    (tmp_path / "pw").write_text(SECRET + "\n")
    base_ssl = {
        "ssl.ca.location": str(pki.ca),
        "ssl.certificate.location": str(pki.client_cert),
        "ssl.key.location": str(pki.client_key),
    }
    cases = [
        {"security.protocol": "SSL", **base_ssl},
        {
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "u",
            "sasl.password": "${env:KIE_SASL_PASSWORD}",
        },
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-256",
            "sasl.username": "u",
            "sasl.password": f"${{file:{tmp_path / 'pw'}}}",
            "ssl.ca.location": str(pki.ca),
        },
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": "u",
            "sasl.password": "${env:KIE_SASL_PASSWORD}",
        },
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.config": f"principal=svc secret={SECRET}",
        },
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.client.id": "exporter",
            "sasl.oauthbearer.client.secret": "${env:KIE_SASL_PASSWORD}",
            "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
        },
    ]
    for client in cases:
        cfg = load_client(tmp_path, client)
        for key, value in client.items():
            if "${" in value:
                assert cfg.kafka.client[key] == SECRET  # resolved from env/file, trailing newline stripped
        shown = str(config.redact(cfg.kafka.client))
        assert SECRET not in shown and "<redacted>" in shown, shown


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ({"security.protocol": "SASL_SCRAM"}, 'Invalid value "SASL_SCRAM" for configuration property "security.protocol"'),
        ({"sasl.passwd": SECRET}, 'No such configuration property: "sasl.passwd"'),
        (
            {"security.protocol": "SASL_SSL", "sasl.mechanism": "DIGEST-MD5", "sasl.username": "u", "sasl.password": SECRET},
            "Unsupported SASL mechanism",
        ),
        (
            {"security.protocol": "SSL", "ssl.ca.location": "/nonexistent/ca.pem"},
            "ssl.ca.location: cannot read /nonexistent/ca.pem",
        ),
        ({"sasl.password": "${env:KIE_UNSET_VARIABLE}"}, "environment variable KIE_UNSET_VARIABLE is not set"),
        ({"sasl.password": "${file:/nonexistent/secret}"}, "cannot read secret file /nonexistent/secret"),
        (
            {
                "security.protocol": "SASL_SSL",
                "sasl.mechanism": "OAUTHBEARER",
                "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.secret": SECRET,
            },
            "sasl.oauthbearer.token.endpoint.url` is mandatory",
        ),
    ],
)
def test_bad_security_settings_are_one_line_without_secrets(
    client: dict[str, str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump({"kafka": {"bootstrap_servers": "127.0.0.1:9092", "client": client}}))
    assert cli.main(["--check-config", "--config.file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "kafka.client" in err, err
    assert SECRET not in err


def test_redaction() -> None:
    shown = config.redact(
        {
            "sasl.password": SECRET,
            "ssl.key.password": SECRET,
            "ssl.keystore.password": SECRET,
            "sasl.oauthbearer.config": f"secret={SECRET}",
            "sasl.oauthbearer.client.secret": SECRET,
            "ssl.key.pem": SECRET,
            "sasl.username": "alice",
        }
    )
    assert SECRET not in str(shown) and shown["sasl.username"] == "alice"
    assert config.scrub(f"broker said {SECRET}!", {"sasl.password": SECRET}) == "broker said <redacted>!"


def _scrape(port: int) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as r:
        return r.status, r.read().decode()


@pytest.mark.parametrize(
    ("client", "cause"),
    [
        (
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "SCRAM-SHA-256",
                "sasl.username": "exporter",
                "sasl.password": SECRET,
                "debug": "security,broker",
            },
            "SASL",
        ),
        (
            {
                "security.protocol": "SASL_PLAINTEXT",
                "sasl.mechanism": "PLAIN",
                "sasl.username": "exporter",
                "sasl.password": SECRET,
                "debug": "security,broker",
            },
            "SASL",
        ),
    ],
)
def test_wrong_security_against_plaintext_broker_is_a_clear_source_error(
    client: dict[str, str],
    cause: str,
    tansu: TansuBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = load_client(tmp_path, client, tansu.bootstrap)
    # the request fails after kafka.request_timeout_seconds (2 s) with the cause; the cycle's
    # deadline is longer so that a loaded machine (the worker process starting) still sees it
    collector = Collector([AdminSource(cfg)], interval=30, timeout=20)
    server = serve(collector)
    try:
        snap = collector.collect_once()
        [result] = snap.results
        assert not result.up
        assert result.error and "metadata request" in result.error and cause in result.error, result.error
        published(server)
        status, body = _scrape(server.server_address[1])
        assert status == 200
        assert f'kafka_insight_source_up{{source="admin",target="{tansu.bootstrap}"}} 0.0' in body
        assert SECRET not in body
        warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
        assert any(cause in w and "is down" in w for w in warnings), warnings
        assert all(SECRET not in r.getMessage() for r in caplog.records)
        # a librdkafka debug dump of the configuration was logged, redacted by librdkafka itself;
        # the Admin client runs in a worker process, which logs to the inherited stderr
        worker_output = capfd.readouterr().err
        assert "librdkafka [admin worker]" in worker_output
        assert SECRET not in worker_output
    finally:
        server.shutdown()
        collector.stop()

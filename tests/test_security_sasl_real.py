"""SASL/SCRAM and TLS against a real Apache Kafka 4.0 broker (a one-node cluster from
shared/kafka with SASL_PLAINTEXT and SASL_SSL listeners — the broker's certificate from a
test CA made at test time, as a PEM keystore; the SCRAM user is created with Kafka's own
kafka-configs.sh).

The right password: the Admin-API source is up and sees the topic. A wrong one:
source_up 0, a log line naming the SASL authentication failure, no secret anywhere.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._exposition import Parsed
from tests._security_pki import Pki, make_pki
from tests.conftest import KAFKA_BIN, RealKafka, collect_admin, create_topic, realkafka_env, skip_or_fail

# ports outside Linux's ephemeral range and apart from the 3-node test cluster's
CLIENT, CONTROLLER, JMX, SASL, SASL_TLS = 29291, 29391, 29491, 29295, 29296
USER, PASSWORD = "insight-exporter", "s3cret-Scram-pw"


@dataclass
class SaslKafka:
    plaintext: str
    tls: str
    pki: Pki


@pytest.fixture(scope="module")
def sasl_kafka(kafka_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslKafka]:
    work = tmp_path_factory.mktemp("sasl-kafka")
    jaas = work / "jaas.conf"
    jaas.write_text("KafkaServer {\n  org.apache.kafka.common.security.scram.ScramLoginModule required;\n};\n")
    pki = make_pki(work / "pki")
    keystore = work / "broker-keystore.pem"  # Kafka's PEM keystore: PKCS#8 key + certificate chain
    keystore.write_bytes(pki.server_key.read_bytes() + pki.server_cert.read_bytes())
    props = [
        f"listeners=PLAINTEXT://127.0.0.1:{CLIENT},CONTROLLER://127.0.0.1:{CONTROLLER},"
        f"SASL_PLAINTEXT://127.0.0.1:{SASL},SASL_SSL://127.0.0.1:{SASL_TLS}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{CLIENT},SASL_PLAINTEXT://127.0.0.1:{SASL},SASL_SSL://127.0.0.1:{SASL_TLS}",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.ssl.keystore.type=PEM",
        f"listener.name.sasl_ssl.ssl.keystore.location={keystore}",
    ]
    env = realkafka_env(
        kafka_home,
        REALKAFKA_DIR=str(Path("/tmp") / f"kie-sasl-{os.getpid()}"),
        REALKAFKA_CLIENT_PORT_BASE=str(CLIENT - 1),
        REALKAFKA_CONTROLLER_PORT_BASE=str(CONTROLLER - 1),
        REALKAFKA_JMX_PORT_BASE=str(JMX - 1),
        REALKAFKA_HEAP="-Xmx256m -Xms128m",
        REALKAFKA_EXTRA_PROPS=" ".join(props),
        KAFKA_OPTS=f"-Djava.security.auth.login.config={jaas}",
    )
    cluster = RealKafka(env, nodes=1)
    try:
        try:
            cluster.run("start", "1")
        except RuntimeError as exc:  # realkafka.sh's start-up race on a loaded machine
            if "exited" not in str(exc):
                raise
            cluster.wait_up([1], exc)
        tool = KAFKA_BIN / "kafka-configs.sh"
        subprocess.run(
            [
                str(tool),
                "--bootstrap-server",
                f"127.0.0.1:{CLIENT}",
                "--alter",
                "--entity-type",
                "users",
                "--entity-name",
                USER,
                "--add-config",
                f"SCRAM-SHA-256=[iterations=4096,password={PASSWORD}]",
            ],
            check=True,
            capture_output=True,
            timeout=120,
            env={**os.environ, "KAFKA_HEAP_OPTS": "-Xmx128m"},
        )
        create_topic(f"127.0.0.1:{CLIENT}", "sasl-visible", 2)
    except Exception as exc:
        cluster.run("clean")
        skip_or_fail(f"SASL Kafka could not start: {exc}")
    yield SaslKafka(f"127.0.0.1:{SASL}", f"127.0.0.1:{SASL_TLS}", pki)
    cluster.run("clean")


def collect(bootstrap: str, password: str, tls: dict[str, str] | None = None) -> Parsed:
    client = {
        "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-256",
        "sasl.username": USER,
        "sasl.password": password,
        **(tls or {}),
    }
    return collect_admin({"kafka.bootstrap_servers": bootstrap, "kafka.request_timeout_seconds": 5, "kafka.client": client})


def test_scram_login_with_the_password_from_the_environment(sasl_kafka: SaslKafka, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIE_TEST_SCRAM_PASSWORD", PASSWORD)
    m = collect(sasl_kafka.plaintext, "${env:KIE_TEST_SCRAM_PASSWORD}")
    assert m.value("kafka_insight_source_up", source="admin", target=sasl_kafka.plaintext) == 1
    assert m.value("kafka_insight_topic_partitions", topic="sasl-visible") == 2
    assert PASSWORD.encode() not in str(m.samples).encode()


def test_wrong_scram_password_is_a_clear_source_error(sasl_kafka: SaslKafka, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "not-the-Scram-pw"
    with caplog.at_level(logging.DEBUG):
        m = collect(sasl_kafka.plaintext, wrong)
    assert m.value("kafka_insight_source_up", source="admin", target=sasl_kafka.plaintext) == 0
    assert m.series("kafka_insight_topic_partitions") == []
    down = [r.getMessage() for r in caplog.records if "is down" in r.getMessage()]
    assert len(down) == 1 and "SASL authentication error" in down[0] and "invalid credentials" in down[0], down
    assert all(wrong not in r.getMessage() and PASSWORD not in r.getMessage() for r in caplog.records)


def test_scram_over_tls_with_the_ca_from_a_file(sasl_kafka: SaslKafka, tmp_path: Path) -> None:
    password_file = tmp_path / "kafka-password"
    password_file.write_text(PASSWORD + "\n")
    m = collect(sasl_kafka.tls, f"${{file:{password_file}}}", {"ssl.ca.location": str(sasl_kafka.pki.ca)})
    assert m.value("kafka_insight_source_up", source="admin", target=sasl_kafka.tls) == 1
    assert m.value("kafka_insight_topic_partitions", topic="sasl-visible") == 2


def test_tls_with_an_untrusted_broker_certificate_is_a_clear_source_error(
    sasl_kafka: SaslKafka, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        m = collect(sasl_kafka.tls, PASSWORD, {"ssl.ca.location": str(sasl_kafka.pki.rogue_cert)})
    assert m.value("kafka_insight_source_up", source="admin", target=sasl_kafka.tls) == 0
    down = [r.getMessage() for r in caplog.records if "is down" in r.getMessage()]
    assert len(down) == 1 and "certificate verify failed" in down[0], down

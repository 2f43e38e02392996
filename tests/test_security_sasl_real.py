"""SASL/SCRAM and TLS against a real Apache Kafka 4.0 broker (a one-node cluster from
shared/kafka with SASL_PLAINTEXT and SASL_SSL listeners — the broker's certificate from a
test CA made at test time, as a PEM keystore; the SCRAM user is created with Kafka's own
kafka-configs.sh).

The right password: the Admin-API source is up and sees the topic. A wrong one:
source_up 0, a log line naming the SASL authentication failure, no secret anywhere.

The broker runs Kafka's StandardAuthorizer (the PLAINTEXT listener's ANONYMOUS principal is a
super user, for the set-up); the SCRAM user may describe the cluster, every topic and group,
and read the configs of the topics the ACLs below grant — a principal without DescribeConfigs
on some topics, as issue 13 item 1 found in the field.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    ResourcePatternType,
    ResourceType,
)

from exporter import config
from exporter.cycle import Collector
from exporter.demo.broker import free_port
from exporter.interpret.durability import DurabilityInterpreter
from exporter.sources.admin.source import AdminSource
from tests._exposition import Parsed
from tests._security_pki import Pki, make_pki
from tests.conftest import KAFKA_BIN, QUIET, RealKafka, collect_admin, create_topic, realkafka_env, skip_or_fail

USER, PASSWORD = "insight-exporter", "s3cret-Scram-pw"


@dataclass
class SaslKafka:
    plaintext: str
    tls: str
    pki: Pki
    #: the PLAINTEXT listener, whose ANONYMOUS principal is a super user (set-up only)
    admin: str


@pytest.fixture(scope="module")
def sasl_kafka(kafka_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SaslKafka]:
    work = tmp_path_factory.mktemp("sasl-kafka")
    # free ports reserved across processes (not fixed ones: two test sessions on one machine
    # would start two brokers on the same ports)
    CLIENT, CONTROLLER, JMX, SASL, SASL_TLS = (free_port() for _ in range(5))  # noqa: N806
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
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:ANONYMOUS",
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
        grant(f"127.0.0.1:{CLIENT}", *BASE_ACLS)
    except Exception as exc:
        cluster.run("clean")
        skip_or_fail(f"SASL Kafka could not start: {exc}")
    yield SaslKafka(f"127.0.0.1:{SASL}", f"127.0.0.1:{SASL_TLS}", pki, f"127.0.0.1:{CLIENT}")
    cluster.run("clean")


#: what the SCRAM user may do: describe the cluster, all topics and groups; read the configs of
#: topics named sasl-* and acl-open-* (the ACL test grants and revokes more)
BASE_ACLS = (
    (ResourceType.BROKER, "kafka-cluster", ResourcePatternType.LITERAL, AclOperation.DESCRIBE),
    (ResourceType.TOPIC, "*", ResourcePatternType.LITERAL, AclOperation.DESCRIBE),
    (ResourceType.GROUP, "*", ResourcePatternType.LITERAL, AclOperation.DESCRIBE),
    (ResourceType.TOPIC, "sasl-", ResourcePatternType.PREFIXED, AclOperation.DESCRIBE_CONFIGS),
    (ResourceType.TOPIC, "acl-open-", ResourcePatternType.PREFIXED, AclOperation.DESCRIBE_CONFIGS),
)


def _binding(acl: tuple[ResourceType, str, ResourcePatternType, AclOperation]) -> AclBinding:
    restype, name, pattern, operation = acl
    return AclBinding(restype, name, pattern, f"User:{USER}", "*", operation, AclPermissionType.ALLOW)


def grant(bootstrap: str, *acls: tuple[ResourceType, str, ResourcePatternType, AclOperation]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    for future in admin.create_acls([_binding(a) for a in acls], request_timeout=15).values():
        future.result()


def revoke(bootstrap: str, *acls: tuple[ResourceType, str, ResourcePatternType, AclOperation]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, **QUIET})
    filters = [
        AclBindingFilter(r, n, p, f"User:{USER}", "*", o, AclPermissionType.ALLOW) for r, n, p, o in acls
    ]
    for future in admin.delete_acls(filters, request_timeout=15).values():
        future.result()


def scram(password: str = PASSWORD) -> dict[str, str]:
    return {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256", "sasl.username": USER, "sasl.password": password}


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


def _configs_readable(bootstrap: str, topic: str) -> bool:
    admin = AdminClient({"bootstrap.servers": bootstrap, **scram(), **QUIET})
    try:
        admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)], request_timeout=10)[
            ConfigResource(ResourceType.TOPIC, topic)
        ].result()
    except KafkaException:
        return False
    return True


def test_topic_configs_denied_by_acl_are_last_known_or_absent_never_defaulted(
    sasl_kafka: SaslKafka, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 13 item 1, live: DescribeConfigs denied on some topics by the broker's authorizer.

    Every topic sets min.insync.replicas=2, unclean.leader.election.enable=true and
    retention.ms=3600000, so a topic read as Kafka's defaults (min ISR 1, clean elections, the
    broker's 24 h) would show.  acl-denied-*: never readable - its config-dependent values are
    absent (and counted), its offline / under-replicated / leader flags are there.
    acl-revoked-*: readable in the first cycle, revoked before the second - the second cycle
    uses its last-known configs and exports their age.  acl-open-*: always read.
    """
    tag = uuid.uuid4().hex[:6]
    open_, denied, revoked = f"acl-open-{tag}", f"acl-denied-{tag}", f"acl-revoked-{tag}"
    settings = {"min.insync.replicas": "2", "unclean.leader.election.enable": "true", "retention.ms": "3600000"}
    for topic in (open_, denied, revoked):
        create_topic(sasl_kafka.admin, topic, 2, config=settings)
    revocable = (ResourceType.TOPIC, revoked, ResourcePatternType.LITERAL, AclOperation.DESCRIBE_CONFIGS)
    grant(sasl_kafka.admin, revocable)
    assert _configs_readable(sasl_kafka.plaintext, revoked) and not _configs_readable(sasl_kafka.plaintext, denied)

    cfg = config.load(
        None,
        {
            "kafka.bootstrap_servers": sasl_kafka.plaintext,
            "kafka.client": scram(),
            "filters.topics.include": [f"acl-.*-{tag}"],
        },
    )
    collector = Collector([AdminSource(cfg)], [DurabilityInterpreter()], interval=cfg.interval, timeout=cfg.timeout)
    try:
        collector.collect_once()
        first = Parsed(collector.exposition.body)
        revoke(sasl_kafka.admin, revocable)
        deadline = time.monotonic() + 30
        while _configs_readable(sasl_kafka.plaintext, revoked):
            assert time.monotonic() < deadline, "the revoked ACL still lets the configs be read"
            time.sleep(0.5)
        time.sleep(1)  # the configs' age must be visibly above the first cycle's
        with caplog.at_level(logging.WARNING):
            collector.collect_once()
        second = Parsed(collector.exposition.body)
    finally:
        collector.stop()

    for m in (first, second):
        assert m.value("kafka_insight_source_up", source="admin", target=sasl_kafka.plaintext) == 1
        # never read: absent, never Kafka's defaults; counted
        assert m.value("kafka_insight_topic_min_insync_replicas", topic=denied) is None
        assert m.value("kafka_insight_topic_effective_min_insync_replicas", topic=denied) is None
        assert m.value("kafka_insight_topic_retention_seconds", topic=denied) is None
        assert m.value("kafka_insight_topic_configs_age_seconds", topic=denied) is None
        assert m.value("kafka_insight_topic_durability_risk", topic=denied, reason="unclean_election") is None
        assert m.value("kafka_insight_topic_durability_risk", topic=denied, reason="single_copy_ack") is None
        assert m.value("kafka_insight_topics_without_configs") == 1
        for pid in range(2):
            assert m.value("kafka_insight_partition_under_min_isr", topic=denied, partition=pid) is None
            assert m.value("kafka_insight_partition_at_min_isr", topic=denied, partition=pid) is None
            assert m.value("kafka_insight_partition_isr_headroom", topic=denied, partition=pid) is None
            # what the metadata says is there all the same
            assert m.value("kafka_insight_partition_offline", topic=denied, partition=pid) == 0
            assert m.value("kafka_insight_partition_under_replicated", topic=denied, partition=pid) == 0
            assert m.value("kafka_insight_partition_leader", topic=denied, partition=pid) == 1
        assert m.value("kafka_insight_topic_durability_risk", topic=denied, reason="single_replica") == 1
        # read now (open) or earlier (revoked): the topic's own values
        for topic in (open_, revoked):
            assert m.value("kafka_insight_topic_min_insync_replicas", topic=topic) == 2
            assert m.value("kafka_insight_topic_retention_seconds", topic=topic) == 3600
            assert m.value("kafka_insight_topic_durability_risk", topic=topic, reason="unclean_election") == 1
            # RF 1 with min.insync.replicas 2: the brokers cap it at 1, the one replica is at min
            assert m.value("kafka_insight_partition_at_min_isr", topic=topic, partition=0) == 1
            assert m.value("kafka_insight_partition_under_min_isr", topic=topic, partition=0) == 0
    assert (first.value("kafka_insight_topic_configs_age_seconds", topic=revoked) or 0) < 1
    assert (second.value("kafka_insight_topic_configs_age_seconds", topic=revoked) or 0) >= 1
    assert (second.value("kafka_insight_topic_configs_age_seconds", topic=open_) or 0) < 1
    # every refused topic is known by name, not only the first one
    assert first.value("kafka_insight_admin_request_errors", request="describe_configs") == 1
    assert second.value("kafka_insight_admin_request_errors", request="describe_configs") == 2
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert denied in logged and revoked in logged and "TOPIC_AUTHORIZATION_FAILED" in logged, logged

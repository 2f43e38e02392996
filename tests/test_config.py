"""Configuration: every bad-config case exits 2 with one line naming the YAML path and the problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exporter import config
from exporter.cli import main

BAD = Path(__file__).parent / "data" / "bad-config"

CASES = {
    "yaml-syntax.yml": "yaml-syntax.yml: YAML syntax error at line 3, column 1: expected ',' or ']', but got '<stream end>'",
    "unknown-key.yml": "kafka.bootstrap_server: unknown key; did you mean 'bootstrap_servers'?",
    "unknown-section.yml": "colection: unknown key; did you mean 'collection'?",
    "wrong-type.yml": "collection.interval_seconds: expected a number, got 'often'",
    "bad-regex.yml": "filters.topics.include[0]: invalid regex 'orders(': missing ), unterminated subpattern at position 6",
    "address-type.yml": "web.listen_address: expected a string, got integer",
    "bad-server.yml": "kafka.bootstrap_servers: 'localhost' is not host:port",
    "timeout-over-interval.yml": "collection.timeout_seconds: must not exceed collection.interval_seconds",
    "request-timeout-over-cycle.yml": (
        "kafka.request_timeout_seconds: must be shorter than collection.timeout_seconds (10 s): a request that may wait "
        "that long on a dead broker leaves the cycle no time for the answers that did come"
    ),
    "missing-secret.yml": "kafka.client.sasl.password: environment variable KAFKA_INSIGHT_TEST_UNSET_SECRET is not set",
    "not-a-mapping.yml": "(top level): expected a mapping, got list",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_config_exits_2_with_one_clear_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--config.file", str(BAD / name), "--check-config"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1, err
    assert err.startswith("kafka-insight-exporter: config error: ")
    assert err.rstrip("\n").endswith(CASES[name]), err


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config.file", "/nonexistent/kie.yml", "--check-config"]) == 2
    assert capsys.readouterr().err == (
        "kafka-insight-exporter: config error: cannot read config file /nonexistent/kie.yml: No such file or directory\n"
    )


def test_every_fixture_file_has_a_case() -> None:
    assert sorted(p.name for p in BAD.iterdir()) == sorted(CASES)


def test_no_traceback_from_the_real_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exporter", "--config.file", str(BAD / "unknown-key.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().endswith("kafka.bootstrap_server: unknown key; did you mean 'bootstrap_servers'?")


def test_flags_and_environment_override_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yml"
    path.write_text("kafka:\n  bootstrap_servers: [a:1, b:2]\ncollection:\n  interval_seconds: 60\n  timeout_seconds: 5\n")
    cfg = config.load(str(path))
    assert cfg.bootstrap_servers == ["a:1", "b:2"] and cfg.interval == 60 and cfg.timeout == 5
    assert (cfg.web.host, cfg.web.port) == ("0.0.0.0", 9741)
    cfg = config.load(str(path), {"kafka.bootstrap_servers": "c:3,d:4", "web.listen_address": "127.0.0.1:9999"})
    assert cfg.bootstrap_servers == ["c:3", "d:4"] and (cfg.web.host, cfg.web.port) == ("127.0.0.1", 9999)


def test_secrets_from_env_and_file_are_resolved_and_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "pw"
    secret_file.write_text("from-file\n")
    monkeypatch.setenv("KIE_TEST_PW", "from-env")
    path = tmp_path / "c.yml"
    path.write_text(
        "kafka:\n  bootstrap_servers: a:1\n  client:\n    security.protocol: SASL_SSL\n    sasl.mechanism: PLAIN\n    sasl.username: exporter\n"
        f"    sasl.password: ${{env:KIE_TEST_PW}}\n    ssl.key.password: ${{file:{secret_file}}}\n"
    )
    cfg = config.load(str(path))
    assert cfg.kafka.client["sasl.password"] == "from-env"
    assert cfg.kafka.client["ssl.key.password"] == "from-file"
    assert config.redact(cfg.kafka.client) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "exporter",
        "sasl.password": "<redacted>",
        "ssl.key.password": "<redacted>",
    }


def test_filters_full_match(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("filters:\n  topics:\n    include: ['orders.*', payments]\n    exclude: ['.*-dlq']\n")
    f = config.load(str(path)).filters.topics
    assert f.allows("orders") and f.allows("orders-eu") and f.allows("payments")
    assert not f.allows("orders-dlq") and not f.allows("payments-eu") and not f.allows("clicks")


def test_reference_lists_every_option() -> None:
    rows = config.reference()
    assert any(r.startswith("| `kafka.bootstrap_servers` |") for r in rows)
    assert any(r.startswith("| `filters.groups.exclude` |") for r in rows)


def test_one_typed_tree_with_each_default_declared_once() -> None:
    import dataclasses

    from exporter.configbase import defaults
    from exporter.interpret.client_stats import ClientStatsInterpreter
    from exporter.interpret.offsets import OffsetSettings

    def check(cls: type, path: str) -> int:
        count = 0
        for f in dataclasses.fields(cls):
            # no dataclass default anywhere: defaults live in the option declarations only
            assert f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING, f"{path}{f.name}"
            assert len(set(f.metadata) & {"opt", "section", "validator"}) == 1, f"{path}{f.name}"
            if "section" in f.metadata:
                count += check(f.metadata["section"], f"{path}{f.name}.")
            else:
                count += 1
        return count

    assert check(config.Config, "") == len(config.reference()) + 2  # + the jmx and connect sections, validated by their packages
    cfg = config.load(None, {"interpretation.lag_history_points": 7})
    assert not hasattr(cfg, "raw")
    assert cfg.interpretation.lag_history_points == 7 and cfg.interpretation.stalled_after_seconds == 300.0
    assert cfg.jmx is None and cfg.client_stats.enabled is False and cfg.client_stats.topic == "kafka-insight-client-stats"
    # the interpreters' own defaults are the schema's
    fresh = defaults(config.InterpretationSection)
    assert OffsetSettings() == OffsetSettings.of(fresh)
    assert ClientStatsInterpreter().points == fresh.lag_history_points


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, 10.0),  # the 20 s cycle of a 30 s interval leaves room for the 10 s default
        ({"collection.interval_seconds": 10}, 5.0),  # a 10 s cycle: half of it
        ({"collection.timeout_seconds": 3}, 1.5),
        ({"collection.interval_seconds": 10, "kafka.request_timeout_seconds": 8}, 8.0),  # set: kept as set
    ],
)
def test_request_timeout_fits_inside_the_cycle(overrides: dict[str, object], expected: float) -> None:
    """Issue 13 item 7: a request waiting on a dead broker must give up before the cycle does,
    or the cycle's deadline cuts off everything that did answer."""
    cfg = config.load(None, overrides)
    assert cfg.kafka.request_timeout_seconds == expected
    assert cfg.kafka.request_timeout_seconds < cfg.collection.timeout_seconds

"""Typed configuration: YAML file + flags + environment, validated with errors that name the path.

One tree of frozen dataclasses, one per section (:class:`Config` at the root); each option is
declared once, with its default and documentation, where its section's field is
(:func:`exporter.configbase.option`).  Each feature reads its own section: the Admin-API
source ``config.kafka`` and ``config.filters``, the statistics source
``config.client_stats`` (declared in its package), the JMX sources ``config.jmx`` and Kafka Connect ``config.connect``
(validated by their own packages), the interpreters ``config.interpretation``.  The README's
configuration reference is generated from the same fields
(``python -m exporter --print-config-reference``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from exporter.configbase import ConfigError as ConfigError
from exporter.configbase import Opt, build, option, parse_address, read_yaml, schema, section, type_name, validated
from exporter.sources.canary.config import CanaryConfig
from exporter.sources.client_stats.config import ClientStatsConfig
from exporter.sources.connect import config as connect_config
from exporter.sources.connect.config import ConnectConfig
from exporter.sources.jmx import config as jmx_config
from exporter.sources.jmx.config import JmxConfig

SECRET_KEYS = ("password", "secret", "token", "key", "oauthbearer.config", "jaas")


@dataclass(frozen=True)
class KafkaSection:
    """``kafka``: where the cluster is and how to reach it (the Admin client, and the statistics consumer)."""

    bootstrap_servers: list[str] = field(
        metadata=option(
            "servers",
            [],
            "Kafka bootstrap servers (`host:port`, list or comma-separated). Empty: run the embedded demo broker.",
        )
    )
    client: dict[str, str] = field(
        metadata=option(
            "map",
            {},
            "librdkafka settings passed through to the Admin client (`security.protocol`, `sasl.*`, `ssl.*`, ...). A value `${env:NAME}` or `${file:/path}` is read from the environment or a file; secrets never appear in logs or metrics.",
        )
    )
    request_timeout_seconds: float = field(
        metadata=option(
            "float",
            10.0,
            "Timeout of each Admin-API request; must be shorter than `collection.timeout_seconds`, so a request waiting on a dead broker gives up while the cycle can still return everything else. Defaults to the smaller of 10 s and half the cycle's timeout.",
            0.1,
            300,
        )
    )
    recreate_client_after_failures: int = field(
        metadata=option(
            "int",
            2,
            "Consecutive failed cycles after which the Admin client is closed and created anew (a long-lived client has been seen to keep timing out after a broker died).",
            1,
            1000,
        )
    )


@dataclass(frozen=True)
class CollectionSection:
    """``collection``: the cycle."""

    interval_seconds: float = field(
        metadata=option(
            "float",
            30.0,
            "Time between collection cycles.",
            1,
            3600,
        )
    )
    timeout_seconds: float = field(
        metadata=option(
            "float",
            20.0,
            "Deadline of one cycle's sources; a source that is slower is reported down for that cycle. Defaults to the smaller of 20 s and the interval.",
            0.5,
            3600,
        )
    )


@dataclass(frozen=True)
class TopicsFilter:
    """``filters.topics``."""

    include: tuple[re.Pattern[str], ...] = field(
        metadata=option(
            "regexes",
            [".*"],
            "Topics to collect: full-match regexes.",
        )
    )
    exclude: tuple[re.Pattern[str], ...] = field(
        metadata=option(
            "regexes",
            [],
            "Topics to drop even if included.",
        )
    )
    include_internal: bool = field(
        metadata=option(
            "bool",
            False,
            "Also collect internal topics (names starting with `__`, e.g. `__consumer_offsets`). Kafka's own "
            "(`__consumer_offsets`, `__transaction_state`, `__share_group_state`) always get the partition "
            "durability flags (offline, under/at min ISR, under-replicated), whatever this and the filters say.",
        )
    )

    def allows(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.include) and not any(p.fullmatch(name) for p in self.exclude)


@dataclass(frozen=True)
class GroupsFilter:
    """``filters.groups``."""

    include: tuple[re.Pattern[str], ...] = field(
        metadata=option(
            "regexes",
            [".*"],
            "Consumer groups to collect: full-match regexes.",
        )
    )
    exclude: tuple[re.Pattern[str], ...] = field(
        metadata=option(
            "regexes",
            [],
            "Consumer groups to drop even if included.",
        )
    )

    def allows(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.include) and not any(p.fullmatch(name) for p in self.exclude)


@dataclass(frozen=True)
class WebSection:
    """``web``: the HTTP server."""

    listen_address: str = field(
        metadata=option(
            "address",
            ":9741",
            "Address of the HTTP server (`/metrics`, `/`, `/healthz`, `/readyz`).",
        )
    )
    config_file: str = field(
        metadata=option(
            "str",
            "",
            "Prometheus exporter-toolkit web config file (`tls_server_config`, `basic_auth_users` with bcrypt hashes) protecting every endpoint; see the Security section. Empty: plain HTTP without auth.",
        )
    )
    probes_without_auth: bool = field(
        metadata=option(
            "bool",
            False,
            "Serve `/healthz` and `/readyz` without basic auth (for liveness/readiness probes); TLS still applies.",
        )
    )

    @property
    def host(self) -> str:
        return parse_address("web.listen_address", self.listen_address)[0]

    @property
    def port(self) -> int:
        return parse_address("web.listen_address", self.listen_address)[1]


@dataclass(frozen=True)
class InterpretationSection:
    """``interpretation``: the interpreters' history and thresholds."""

    lag_history_points: int = field(
        metadata=option(
            "int",
            60,
            "Points of (time, log end offset) history kept per partition for lag in seconds (about 28 bytes each; flat stretches take one). Lag older than the window is extrapolated.",
            2,
            10000,
        )
    )
    stalled_after_seconds: float = field(
        metadata=option(
            "float",
            300.0,
            "A group with members (seen within the status window) and lag whose committed offset has not moved for this long is `stalled`.",
            1,
            604800,
        )
    )
    lagging_after_seconds: float = field(
        metadata=option(
            "float",
            60.0,
            "A group that commits but whose total lag does not shrink over the status window is `lagging` once its lag in seconds reaches this.",
            0,
            604800,
        )
    )
    group_status_window_seconds: float = field(
        metadata=option(
            "float",
            600.0,
            "Sliding window of commits over which group status is judged (Burrow-style): a group with lag whose committed offsets have not moved for the whole window, and without members seen in it, is `stopped` (consumers using assign() have no members); longer than the slowest legitimate commit interval (e.g. Flink checkpoints).",
            1,
            604800,
        )
    )


@dataclass(frozen=True)
class SeriesBudgetSection:
    """``series_budget``: how many per group × partition series a big cluster exposes (issue 20)."""

    group_partitions: int = field(
        metadata=option(
            "int",
            100_000,
            "Group × partition pairs (committed offsets) exposed in full: committed offset, lag, lag in seconds and the beyond-log-end/below-log-start flags, about 5 series each. Over it, the pairs that matter most keep their series (beyond the log end or below the log start: always, even past the limit; then the stuck partitions of stalled or stopped groups; then the largest lag in seconds) and the others are only summed up per group × topic (`kafka_insight_consumer_group_topic_*`); `kafka_insight_series_budget_dropped_series` counts what was left out. Cluster, topic, partition and group level series are never limited. 0: no limit. See docs/configuration.md#sizing-the-series-budget.",
            0,
            100_000_000,
        )
    )


@dataclass(frozen=True)
class LogSection:
    """``log``."""

    level: str = field(
        metadata=option(
            "level",
            "info",
            "Log level: debug, info, warning, error.",
        )
    )


@dataclass(frozen=True)
class FiltersSection:
    """``filters``: which topics and consumer groups are collected."""

    topics: TopicsFilter = field(metadata=section(TopicsFilter))
    groups: GroupsFilter = field(metadata=section(GroupsFilter))


@dataclass(frozen=True)
class Config:
    """The whole configuration (the YAML's top level)."""

    kafka: KafkaSection = field(metadata=section(KafkaSection))
    collection: CollectionSection = field(metadata=section(CollectionSection))
    filters: FiltersSection = field(metadata=section(FiltersSection))
    web: WebSection = field(metadata=section(WebSection))
    interpretation: InterpretationSection = field(metadata=section(InterpretationSection))
    series_budget: SeriesBudgetSection = field(metadata=section(SeriesBudgetSection))
    client_stats: ClientStatsConfig = field(metadata=section(ClientStatsConfig))
    canary: CanaryConfig = field(metadata=section(CanaryConfig))
    log: LogSection = field(metadata=section(LogSection))
    #: None when the section is absent
    jmx: JmxConfig | None = field(metadata=validated(jmx_config.validate))
    #: Kafka Connect clusters (issue 18); None when the section is absent: the source is off
    connect: ConnectConfig | None = field(metadata=validated(connect_config.validate))

    # shorthands the cycle and most callers use
    @property
    def bootstrap_servers(self) -> list[str]:
        return self.kafka.bootstrap_servers

    @property
    def interval(self) -> float:
        return self.collection.interval_seconds

    @property
    def timeout(self) -> float:
        return self.collection.timeout_seconds

    @property
    def demo(self) -> bool:
        return not self.kafka.bootstrap_servers


#: every option as nested dicts of Opt (for the reference and the tests)
SCHEMA: dict[str, Any] = schema(Config)


def load(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read, merge and validate.  ``overrides`` maps dotted paths (from flags/env) to values."""
    data: Any = {}
    if path:
        data = read_yaml(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError("(top level)", f"expected a mapping, got {type_name(data)}")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    cfg = build(Config, "", data)
    collection = cfg.collection
    if "timeout_seconds" not in (data.get("collection") or {}):
        # a short interval alone shortens the default deadline with it
        collection = replace(collection, timeout_seconds=min(collection.timeout_seconds, collection.interval_seconds))
        cfg = replace(cfg, collection=collection)
    if collection.timeout_seconds > collection.interval_seconds:
        raise ConfigError("collection.timeout_seconds", "must not exceed collection.interval_seconds")
    if "request_timeout_seconds" not in (data.get("kafka") or {}):
        # half the cycle: a request stuck on a dead broker times out with time to spare for the rest
        timeout = min(cfg.kafka.request_timeout_seconds, collection.timeout_seconds / 2)
        cfg = replace(cfg, kafka=replace(cfg.kafka, request_timeout_seconds=timeout))
    elif cfg.kafka.request_timeout_seconds >= collection.timeout_seconds:
        raise ConfigError(
            "kafka.request_timeout_seconds",
            f"must be shorter than collection.timeout_seconds ({collection.timeout_seconds:g} s): a request that may "
            "wait that long on a dead broker leaves the cycle no time for the answers that did come",
        )
    check_client("kafka.client", cfg.kafka.client)
    return cfg


def reference(options: Mapping[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Markdown table rows of every option (for the README)."""
    rows = []
    for key, sub in (options or SCHEMA).items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(sub, Opt):
            default = sub.default if not isinstance(sub.default, list) else ", ".join(map(str, sub.default)) or "[]"
            rows.append(f"| `{path}` | {sub.kind} | `{default}` | {sub.help} |")
        else:
            rows.extend(reference(sub, path))
    return rows


def redact(settings: Mapping[str, str]) -> dict[str, str]:
    """Client settings safe to log."""
    return {k: ("<redacted>" if any(s in k.lower() for s in SECRET_KEYS) else v) for k, v in settings.items()}


def scrub(text: str, settings: Mapping[str, str]) -> str:
    """``text`` (an error message) with the value of every secret setting replaced."""
    for key, value in settings.items():
        if any(s in key.lower() for s in SECRET_KEYS) and len(str(value)) >= 3:
            text = text.replace(str(value), "<redacted>")
    return text


def check_client(path: str, settings: Mapping[str, str]) -> None:
    """Let librdkafka validate the pass-through settings now (unknown properties, bad
    values, unreadable CA/certificate files, an unsupported SASL mechanism) instead of
    failing every cycle later.  No connection is made: no bootstrap servers are given."""
    if not settings:
        return
    for key, value in settings.items():
        if key.endswith(".location") and value != "probe" and not os.access(value, os.R_OK):
            reason = "no such file" if not os.path.exists(value) else "permission denied"
            raise ConfigError(f"{path}.{key}", f"cannot read {value}: {reason}")
    import logging

    from confluent_kafka.admin import AdminClient

    check = {"log_level": "0", **{k: v for k, v in settings.items() if k != "bootstrap.servers"}}
    try:
        client = AdminClient({**check, "logger": logging.getLogger("librdkafka.check")})
    except Exception as exc:
        err = exc.args[0] if exc.args else exc
        text = err.str() if hasattr(err, "str") else str(err)
        text = text.removeprefix("Failed to create admin client: ")
        raise ConfigError(path, scrub(text, settings)) from None
    del client

"""Typed configuration: YAML file + flags + environment, validated with errors that name the path.

Every option is declared once in :data:`SCHEMA`; the README's configuration reference is
generated from it (``python -m exporter --print-config-reference``).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from exporter.configbase import ConfigError as ConfigError
from exporter.configbase import read_yaml, resolve_secret
from exporter.sources.jmx import config as jmx_config


def _ascii_digits(text: str, most: int) -> bool:
    """Plain ASCII digits only (str.isdigit also accepts '²' and '٣', which int() refuses or reads)."""
    return text.isascii() and text.isdigit() and len(text) <= most


@dataclass(frozen=True)
class Opt:
    """One scalar option: its type, default and documentation."""

    kind: str  # str, int, float, bool, regexes, servers, address, map, level, list
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None


# Nested dicts of Opt: the whole schema.  Sections added by later features go here too.
SCHEMA: dict[str, Any] = {
    "kafka": {
        "bootstrap_servers": Opt(
            "servers", [], "Kafka bootstrap servers (`host:port`, list or comma-separated). Empty: run the embedded demo broker."
        ),
        "client": Opt(
            "map",
            {},
            "librdkafka settings passed through to the Admin client (`security.protocol`, `sasl.*`, `ssl.*`, ...). A value `${env:NAME}` or `${file:/path}` is read from the environment or a file; secrets never appear in logs or metrics.",
        ),
        "request_timeout_seconds": Opt("float", 10.0, "Timeout of each Admin-API request.", 0.1, 300),
        "recreate_client_after_failures": Opt(
            "int",
            2,
            "Consecutive failed cycles after which the Admin client is closed and created anew (a long-lived client has been seen to keep timing out after a broker died).",
            1,
            1000,
        ),
    },
    "collection": {
        "interval_seconds": Opt("float", 30.0, "Time between collection cycles.", 1, 3600),
        "timeout_seconds": Opt(
            "float", 20.0, "Deadline of one cycle's sources; a source that is slower is reported down for that cycle. Defaults to the smaller of 20 s and the interval.", 0.5, 3600
        ),
    },
    "filters": {
        "topics": {
            "include": Opt("regexes", [".*"], "Topics to collect: full-match regexes."),
            "exclude": Opt("regexes", [], "Topics to drop even if included."),
            "include_internal": Opt(
                "bool",
                False,
                "Also collect internal topics (names starting with `__`, e.g. `__consumer_offsets`). Kafka's own "
                "(`__consumer_offsets`, `__transaction_state`, `__share_group_state`) always get the partition "
                "durability flags (offline, under/at min ISR, under-replicated), whatever this and the filters say.",
            ),
        },
        "groups": {
            "include": Opt("regexes", [".*"], "Consumer groups to collect: full-match regexes."),
            "exclude": Opt("regexes", [], "Consumer groups to drop even if included."),
        },
    },
    "web": {
        "listen_address": Opt("address", ":9741", "Address of the HTTP server (`/metrics`, `/`, `/healthz`, `/readyz`)."),
        "config_file": Opt(
            "str",
            "",
            "Prometheus exporter-toolkit web config file (`tls_server_config`, `basic_auth_users` with bcrypt hashes) protecting every endpoint; see the Security section. Empty: plain HTTP without auth.",
        ),
        "probes_without_auth": Opt(
            "bool", False, "Serve `/healthz` and `/readyz` without basic auth (for liveness/readiness probes); TLS still applies."
        ),
    },
    "interpretation": {
        "lag_history_points": Opt(
            "int",
            60,
            "Points of (time, log end offset) history kept per partition for lag in seconds (about 28 bytes each; flat stretches take one). Lag older than the window is extrapolated.",
            2,
            10000,
        ),
        "stalled_after_seconds": Opt(
            "float", 300.0, "A group with members (seen within the status window) and lag whose committed offset has not moved for this long is `stalled`.", 1, 604800
        ),
        "lagging_after_seconds": Opt(
            "float", 60.0, "A group that commits but whose total lag does not shrink over the status window is `lagging` once its lag in seconds reaches this.", 0, 604800
        ),
        "group_status_window_seconds": Opt(
            "float",
            600.0,
            "Sliding window of commits over which group status is judged (Burrow-style): a group with lag whose committed offsets have not moved for the whole window, and without members seen in it, is `stopped` (consumers using assign() have no members); longer than the slowest legitimate commit interval (e.g. Flink checkpoints).",
            1,
            604800,
        ),
    },
    "client_stats": {
        "enabled": Opt(
            "bool",
            False,
            "Consume librdkafka client statistics that applications forward with `exporter.stats_forwarder` (always on in demo mode).",
        ),
        "topic": Opt("str", "kafka-insight-client-stats", "Topic the applications forward their statistics to."),
        "expire_after_intervals": Opt(
            "float",
            3.0,
            "A client instance not heard from for this many of its statistics intervals (the collection interval when it did not say) disappears with its series.",
            1,
            1000,
        ),
        "max_instances": Opt(
            "int",
            1000,
            "Most client instances tracked; statistics from further new instances are dropped and counted until others expire.",
            1,
            1000000,
        ),
        "max_message_bytes": Opt(
            "int", 1048576, "Statistics messages larger than this are dropped and counted.", 1024, 104857600
        ),
        "create_topic": Opt("bool", True, "Create the statistics topic when it does not exist (retention below, delete policy)."),
        "partitions": Opt("int", 3, "Partitions of the statistics topic when the exporter creates it.", 1, 1000),
        "replication_factor": Opt(
            "int", -1, "Replication factor of the statistics topic when the exporter creates it (-1: the broker default).", -1, 100
        ),
        "retention_seconds": Opt("float", 3600.0, "retention.ms of the statistics topic when the exporter creates it.", 60, 31536000),
    },
    "canary": {
        "enabled": Opt(
            "bool",
            False,
            "Run the durability canary (docs/canary.md): it WRITES small records to its own topic with acks=all and reads them back to prove acknowledged writes survive. Off by default.",
        ),
        "topic": Opt("str", "kafka-insight-canary", "The canary topic (nothing else may write to it)."),
        "records_per_second": Opt("float", 1.0, "Records sent per canary partition per second.", 0.01, 100),
        "replication_factor": Opt(
            "int", 3, "Replication factor of the canary topic when the exporter creates it (capped at the broker count).", 1, 100
        ),
        "min_insync_replicas": Opt(
            "int", 2, "min.insync.replicas of the canary topic when the exporter creates it (capped at the replication factor).", 1, 100
        ),
        "create_topic": Opt(
            "bool", True, "Create the canary topic (one partition per broker, each broker leading one) when it does not exist; when false it must exist."
        ),
        "window_records": Opt(
            "int",
            10000,
            "Acknowledged records remembered per canary partition (about 100 bytes each); a record is checked for loss while it is in the window.",
            10,
            10000000,
        ),
    },
    "log": {
        "level": Opt("level", "info", "Log level: debug, info, warning, error."),
    },
}

LEVELS = ("debug", "info", "warning", "error")
SECRET_KEYS = ("password", "secret", "token", "key", "oauthbearer.config", "jaas")


@dataclass(frozen=True)
class Filter:
    include: tuple[re.Pattern[str], ...]
    exclude: tuple[re.Pattern[str], ...]

    def allows(self, name: str) -> bool:
        return any(p.fullmatch(name) for p in self.include) and not any(p.fullmatch(name) for p in self.exclude)


@dataclass(frozen=True)
class Config:
    bootstrap_servers: list[str]
    client: dict[str, str]
    request_timeout: float
    recreate_client_after: int
    interval: float
    timeout: float
    topics: Filter
    include_internal_topics: bool
    groups: Filter
    listen_host: str
    listen_port: int
    log_level: str
    #: the validated raw tree (sections added by later features read from here)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def demo(self) -> bool:
        return not self.bootstrap_servers


# -- coercion of one value ---------------------------------------------------------------
def _type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__ if value is not None else "null"
    )


def _coerce(path: str, opt: Opt, value: Any) -> Any:
    kind = opt.kind
    if kind in ("str", "level", "address"):
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {_type_name(value)}")
        if kind == "level" and value.lower() not in LEVELS:
            raise ConfigError(path, f"unknown log level {value!r}; use one of {', '.join(LEVELS)}")
        if kind == "address":
            parse_address(path, value)
        return value.lower() if kind == "level" else value
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {_type_name(value)}")
        return value
    if kind in ("int", "float"):
        if isinstance(value, str):
            if not value.isascii():
                raise ConfigError(path, f"expected a number in ASCII digits, got {value[:40]!r}")
            try:
                value = float(value) if kind == "float" else int(value)
            except ValueError:
                raise ConfigError(path, f"expected a number, got {value[:40]!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "int" and not isinstance(value, int)):
            raise ConfigError(path, f"expected {'an integer' if kind == 'int' else 'a number'}, got {_type_name(value)}")
        if (
            value != value
            or (opt.minimum is not None and value < opt.minimum)
            or (opt.maximum is not None and value > opt.maximum)
        ):
            shown = f"{value:.6g}" if isinstance(value, float) or abs(value) > 10**15 else str(value)
            raise ConfigError(path, f"{shown} is out of range [{opt.minimum:g}, {opt.maximum:g}]")
        return float(value) if kind == "float" else value
    if kind == "servers":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ConfigError(path, f"expected host:port strings, got {_type_name(value)}")
        servers = [s.strip() for s in items if s.strip()]
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not _ascii_digits(port, 5) or not 0 < int(port) < 65536:
                raise ConfigError(path, f"{server!r} is not host:port")
        return servers
    if kind == "regexes":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ConfigError(path, f"expected a regex or a list of regexes, got {_type_name(value)}")
        compiled = []
        for i, pattern in enumerate(items):
            try:
                compiled.append(re.compile(pattern))
            except (re.error, OverflowError, RecursionError, ValueError) as exc:
                raise ConfigError(f"{path}[{i}]", f"invalid regex {pattern[:80]!r}: {exc}") from None
        return compiled
    if kind == "map":
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {_type_name(value)}")
        result = {}
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(item, (dict, list)) or item is None:
                raise ConfigError(f"{path}.{key}", "expected a scalar value")
            result[key] = resolve_secret(f"{path}.{key}", str(item).lower() if isinstance(item, bool) else str(item))
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise ConfigError(path, f"expected a list, got {_type_name(value)}")
        return value
    raise AssertionError(kind)


def parse_address(path: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not _ascii_digits(port, 5) or not 0 <= int(port) < 65536:
        raise ConfigError(path, f"{value!r} is not [host]:port")
    return host.strip("[]") or "0.0.0.0", int(port)


def _validate(
    path: str, schema: Mapping[str, Any], data: Any, extensions: Mapping[str, Callable[[str, Any], Any]]
) -> dict[str, Any]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path or "(top level)", f"expected a mapping, got {_type_name(data)}")
    result: dict[str, Any] = {}
    for key in data:
        if not isinstance(key, str) or (key not in schema and not (path == "" and key in extensions)):
            known = list(schema) + (list(extensions) if path == "" else [])
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{path}.{key}" if path else str(key), f"unknown key{hint}")
    for key, sub in schema.items():
        sub_path = f"{path}.{key}" if path else key
        if isinstance(sub, Opt):
            result[key] = _coerce(sub_path, sub, data[key]) if key in data else _default(sub_path, sub)
        else:
            result[key] = _validate(sub_path, sub, data.get(key), {})
    if path == "":
        for key, check in extensions.items():
            result[key] = check(key, data.get(key))
    return result


def _default(path: str, opt: Opt) -> Any:
    return _coerce(path, opt, opt.default) if opt.kind in ("regexes",) else opt.default


#: extra top-level sections validated by the features that own them: name -> validator(path, data)
SECTIONS: dict[str, Callable[[str, Any], Any]] = {"jmx": jmx_config.validate}


def load(path: str | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read, merge and validate.  ``overrides`` maps dotted paths (from flags/env) to values."""
    data: Any = {}
    if path:
        data = read_yaml(path)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError("(top level)", f"expected a mapping, got {_type_name(data)}")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    tree = _validate("", SCHEMA, data, SECTIONS)
    collection = tree["collection"]
    if "timeout_seconds" not in (data.get("collection") or {}):
        # a short interval alone shortens the default deadline with it
        collection["timeout_seconds"] = min(collection["timeout_seconds"], collection["interval_seconds"])
    if collection["timeout_seconds"] > collection["interval_seconds"]:
        raise ConfigError("collection.timeout_seconds", "must not exceed collection.interval_seconds")
    host, port = parse_address("web.listen_address", tree["web"]["listen_address"])
    check_client("kafka.client", tree["kafka"]["client"])
    k, f = tree["kafka"], tree["filters"]
    return Config(
        bootstrap_servers=k["bootstrap_servers"],
        client=k["client"],
        request_timeout=k["request_timeout_seconds"],
        recreate_client_after=k["recreate_client_after_failures"],
        interval=tree["collection"]["interval_seconds"],
        timeout=tree["collection"]["timeout_seconds"],
        topics=Filter(tuple(f["topics"]["include"]), tuple(f["topics"]["exclude"])),
        include_internal_topics=f["topics"]["include_internal"],
        groups=Filter(tuple(f["groups"]["include"]), tuple(f["groups"]["exclude"])),
        listen_host=host,
        listen_port=port,
        log_level=tree["log"]["level"],
        raw=tree,
    )


def reference(schema: Mapping[str, Any] | None = None, prefix: str = "") -> list[str]:
    """Markdown table rows of every option (for the README)."""
    rows = []
    for key, sub in (schema or SCHEMA).items():
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


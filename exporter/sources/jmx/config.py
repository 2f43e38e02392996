"""The ``jmx`` configuration section: broker and Java-client JMX targets.

:func:`validate` is the validator of the ``jmx`` field of :class:`exporter.config.Config`;
the validated :class:`JmxConfig` is ``config.jmx`` (``None`` when the section is absent).
Errors name the YAML path.

```yaml
jmx:
  timeout_seconds: 8            # per target; a query slower than this is given up (target down)
  max_parallel: 8               # queries in flight at once (threads of the one JMX worker)
  java: java                    # the java executable whose JVM the JMX worker loads
  brokers:
    discover:                   # broker hosts from the Admin API + one JMX port
      port: 9999                # or port_base: 29998 (port = port_base + broker_id)
    targets:                    # and/or explicit ones
      - address: kafka-1:9999   # host:port or a service:jmx: URL
        broker_id: 1            # optional (else read from the broker's app-info MBean)
        rack: r1                # optional (else from the Admin API)
    per_topic: false            # BrokerTopicMetrics per topic (series per broker x topic)
    per_partition: false        # kafka.cluster Partition / kafka.log Log MBeans
    request_types: [Produce, FetchConsumer, FetchFollower, Metadata, OffsetCommit, OffsetFetch, JoinGroup, Heartbeat]
                                # RequestMetrics latency/requests/errors of these request types
    request_phases: true        # also the five phases (queue, local, remote, response queue, send)
    log_size: false             # per-broker log size and segment count (reads every partition's
                                # kafka.log Log MBeans: one call each); per topic with per_topic too
    slow_every: 4               # read the slow families (request phases, groups per state, version,
                                # log size) every N cycles, their last values exported in between;
                                # 1 = every family every cycle (see exporter/sources/jmx/broker_slow.py)
  clients:
    targets:
      - address: app-1:30100
        name: billing-producer  # optional target label (default: the address)
        settings: {batch.size: 65536, linger.ms: 50, acks: all}
    per_partition_lag: false    # consumer records-lag per partition
```
Every target (and ``brokers.discover``) also takes ``username``, ``password`` (``${env:X}``
or ``${file:/path}`` allowed) and ``tls`` (``truststore``, ``truststore_password``,
``keystore``, ``keystore_password``: TLS on the JMX connector, i.e.
``com.sun.management.jmxremote.ssl=true``; an SSL RMI registry, ``registry.ssl=true``, is not
supported).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from exporter.configbase import ConfigError, resolve_secret
from exporter.sources.jmx.broker_slow import DEFAULT_SLOW_EVERY
from exporter.sources.jmx.client_records import DECLARABLE_SETTINGS

#: request types (RequestMetrics ``request=`` values) read by default: each costs one JMX call
#: per latency histogram per cycle (six with ``request_phases``) plus its error meters
DEFAULT_REQUEST_TYPES = (
    "Produce",
    "FetchConsumer",
    "FetchFollower",
    "Metadata",
    "OffsetCommit",
    "OffsetFetch",
    "JoinGroup",
    "Heartbeat",
)


@dataclass(frozen=True)
class JmxTls:
    """JVM TLS settings of the JMX worker (javax.net.ssl.* system properties)."""

    truststore: str | None = None
    truststore_password: str | None = None
    keystore: str | None = None
    keystore_password: str | None = None


@dataclass(frozen=True)
class JmxAuth:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: JmxTls | None = None


@dataclass(frozen=True)
class BrokerTarget:
    address: str
    broker_id: int | None = None
    rack: str | None = None
    auth: JmxAuth = JmxAuth()


@dataclass(frozen=True)
class ClientTarget:
    address: str
    name: str
    settings: dict[str, str] = field(default_factory=dict)
    auth: JmxAuth = JmxAuth()


@dataclass(frozen=True)
class BrokerDiscovery:
    port: int | None = None
    port_base: int | None = None
    auth: JmxAuth = JmxAuth()

    def port_for(self, broker_id: int) -> int:
        return self.port if self.port is not None else (self.port_base or 0) + broker_id


@dataclass(frozen=True)
class JmxConfig:
    timeout: float = 8.0
    max_parallel: int = 8
    java: str = "java"
    discover: BrokerDiscovery | None = None
    brokers: tuple[BrokerTarget, ...] = ()
    per_topic: bool = False
    per_partition: bool = False
    request_types: tuple[str, ...] = DEFAULT_REQUEST_TYPES
    request_phases: bool = True
    log_size: bool = False
    slow_every: int = DEFAULT_SLOW_EVERY
    clients: tuple[ClientTarget, ...] = ()
    per_partition_lag: bool = False

    @property
    def brokers_configured(self) -> bool:
        return self.discover is not None or bool(self.brokers)


def _err(path: str, message: str) -> Exception:
    return ConfigError(path, message)


def _mapping(path: str, data: Any, known: tuple[str, ...]) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _err(path, f"expected a mapping, got {type(data).__name__}")
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise _err(f"{path}.{key}", f"unknown key{hint}")
    return data


def _str(path: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(path, "expected a non-empty string")
    return value.strip()


def _secret(path: str, value: Any) -> str:
    return resolve_secret(path, _str(path, value))


def _int(path: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(path, f"expected an integer, got {value!r}")
    if not lo <= value <= hi:
        raise _err(path, f"{value} is out of range [{lo}, {hi}]")
    return value


def _bool(path: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _err(path, f"expected true or false, got {value!r}")
    return value


def _address(path: str, value: Any) -> str:
    text = _str(path, value)
    if text.startswith("service:jmx:"):
        return text
    host, sep, port = text.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
        raise _err(path, f"{text!r} is not host:port or a service:jmx: URL")
    return text


_AUTH_KEYS = ("username", "password", "tls")
_TLS_KEYS = ("truststore", "truststore_password", "keystore", "keystore_password")


def _auth(path: str, data: dict[str, Any]) -> JmxAuth:
    username = _str(f"{path}.username", data["username"]) if "username" in data else None
    password = _secret(f"{path}.password", data["password"]) if "password" in data else None
    if (username is None) != (password is None):
        raise _err(path, "set both username and password, or neither")
    tls = None
    if data.get("tls") is not None:
        t = _mapping(f"{path}.tls", data["tls"], _TLS_KEYS)
        tls = JmxTls(
            truststore=_str(f"{path}.tls.truststore", t["truststore"]) if "truststore" in t else None,
            truststore_password=_secret(f"{path}.tls.truststore_password", t["truststore_password"])
            if "truststore_password" in t
            else None,
            keystore=_str(f"{path}.tls.keystore", t["keystore"]) if "keystore" in t else None,
            keystore_password=_secret(f"{path}.tls.keystore_password", t["keystore_password"])
            if "keystore_password" in t
            else None,
        )
    return JmxAuth(username, password, tls)


def _list(path: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _err(path, f"expected a list of targets, got {type(value).__name__}")
    return value


def _request_types(path: str, value: Any) -> tuple[str, ...]:
    """RequestMetrics request names (``Produce``, ``FetchConsumer``, ...): letters only, as
    Kafka's API names are (they become parts of MBean names)."""
    if not isinstance(value, list):
        raise _err(path, f"expected a list of request names, got {type(value).__name__}")
    found: list[str] = []
    for i, item in enumerate(value):
        name = _str(f"{path}[{i}]", item)
        if not (name.isascii() and name.isalpha()):
            raise _err(f"{path}[{i}]", f"{name!r} is not a Kafka request name (e.g. Produce, FetchConsumer)")
        if name not in found:
            found.append(name)
    return tuple(found)


def validate(path: str, data: Any) -> JmxConfig | None:
    """Validator for ``config.SECTIONS``: the raw ``jmx`` mapping -> :class:`JmxConfig`."""
    if data is None:
        return None
    top = _mapping(path, data, ("timeout_seconds", "max_parallel", "java", "brokers", "clients"))
    timeout = 8.0
    if "timeout_seconds" in top:
        value = top["timeout_seconds"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value <= 300:
            raise _err(f"{path}.timeout_seconds", f"expected a number in [0.5, 300], got {value!r}")
        timeout = float(value)
    max_parallel = _int(f"{path}.max_parallel", top["max_parallel"], 1, 256) if "max_parallel" in top else 8
    java = _str(f"{path}.java", top["java"]) if "java" in top else "java"

    bpath = f"{path}.brokers"
    b = _mapping(bpath, top.get("brokers"), ("discover", "targets", "per_topic", "per_partition", "request_types", "request_phases", "log_size",
                                   "slow_every"))
    discover = None
    if b.get("discover") is not None:
        dpath = f"{bpath}.discover"
        d = _mapping(dpath, b["discover"], ("port", "port_base", *_AUTH_KEYS))
        if ("port" in d) == ("port_base" in d):
            raise _err(dpath, "set exactly one of port (same JMX port on every broker) or port_base (port_base + broker_id)")
        discover = BrokerDiscovery(
            port=_int(f"{dpath}.port", d["port"], 1, 65535) if "port" in d else None,
            port_base=_int(f"{dpath}.port_base", d["port_base"], 0, 65000) if "port_base" in d else None,
            auth=_auth(dpath, d),
        )
    brokers = []
    seen: set[str] = set()
    for i, item in enumerate(_list(f"{bpath}.targets", b.get("targets"))):
        tpath = f"{bpath}.targets[{i}]"
        if isinstance(item, str):
            item = {"address": item}
        t = _mapping(tpath, item, ("address", "broker_id", "rack", *_AUTH_KEYS))
        if "address" not in t:
            raise _err(f"{tpath}.address", "missing: the broker's JMX host:port")
        address = _address(f"{tpath}.address", t["address"])
        if address in seen:
            raise _err(f"{tpath}.address", f"{address} is listed twice")
        seen.add(address)
        brokers.append(
            BrokerTarget(
                address,
                _int(f"{tpath}.broker_id", t["broker_id"], 0, 2**31 - 1) if "broker_id" in t else None,
                _str(f"{tpath}.rack", t["rack"]) if "rack" in t else None,
                _auth(tpath, t),
            )
        )

    cpath = f"{path}.clients"
    c = _mapping(cpath, top.get("clients"), ("targets", "per_partition_lag"))
    clients = []
    names: set[str] = set()
    for i, item in enumerate(_list(f"{cpath}.targets", c.get("targets"))):
        tpath = f"{cpath}.targets[{i}]"
        if isinstance(item, str):
            item = {"address": item}
        t = _mapping(tpath, item, ("address", "name", "settings", *_AUTH_KEYS))
        if "address" not in t:
            raise _err(f"{tpath}.address", "missing: the client JVM's JMX host:port")
        address = _address(f"{tpath}.address", t["address"])
        name = _str(f"{tpath}.name", t["name"]) if "name" in t else address
        if name in names:
            raise _err(f"{tpath}.name", f"target {name!r} is listed twice")
        names.add(name)
        settings: dict[str, str] = {}
        raw_settings = _mapping(f"{tpath}.settings", t.get("settings"), DECLARABLE_SETTINGS)
        for key, value in raw_settings.items():
            if isinstance(value, (dict, list)) or value is None:
                raise _err(f"{tpath}.settings.{key}", "expected a scalar value")
            settings[key] = str(value).lower() if isinstance(value, bool) else str(value)
        clients.append(ClientTarget(address, name, settings, _auth(tpath, t)))

    return JmxConfig(
        timeout=timeout,
        max_parallel=max_parallel,
        java=java,
        discover=discover,
        brokers=tuple(brokers),
        per_topic=_bool(f"{bpath}.per_topic", b["per_topic"]) if "per_topic" in b else False,
        per_partition=_bool(f"{bpath}.per_partition", b["per_partition"]) if "per_partition" in b else False,
        request_types=_request_types(f"{bpath}.request_types", b["request_types"]) if "request_types" in b else DEFAULT_REQUEST_TYPES,
        request_phases=_bool(f"{bpath}.request_phases", b["request_phases"]) if "request_phases" in b else True,
        log_size=_bool(f"{bpath}.log_size", b["log_size"]) if "log_size" in b else False,
        slow_every=_int(f"{bpath}.slow_every", b["slow_every"], 1, 1000) if "slow_every" in b else DEFAULT_SLOW_EVERY,
        clients=tuple(clients),
        per_partition_lag=_bool(f"{cpath}.per_partition_lag", c["per_partition_lag"]) if "per_partition_lag" in c else False,
    )


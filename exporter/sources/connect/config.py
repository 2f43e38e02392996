"""The ``connect`` configuration section: Kafka Connect clusters (REST API, and worker JMX).

The validated :class:`ConnectConfig` is ``Config.connect`` (``None`` when the section is absent: the source is off).

```yaml
connect:
  clusters:
    - url: https://connect-1:8083     # any worker of the group (REST API)
      name: main                      # optional connect_cluster label (default: the URL)
      timeout_seconds: 5              # per REST request
      username: admin                 # basic auth (connect-basic-auth-extension)
      password: ${env:CONNECT_PASSWORD}
      tls:
        ca_file: /etc/ssl/connect-ca.pem
        cert_file: /etc/ssl/client.pem   # optional client certificate
        key_file: /etc/ssl/client.key
        insecure_skip_verify: false
      jmx:                            # optional: the workers' JMX (read like jmx.clients targets)
        - address: connect-1:9999
          username: ...               # as in the jmx section (username, password, tls)
```
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from exporter.configbase import ConfigError
from exporter.sources.jmx.config import _AUTH_KEYS, JmxAuth, _address, _auth, _bool, _list, _mapping, _secret, _str


@dataclass(frozen=True)
class RestTls:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool = False


@dataclass(frozen=True)
class WorkerJmxTarget:
    address: str
    auth: JmxAuth = field(default_factory=JmxAuth)


@dataclass(frozen=True)
class ConnectClusterConfig:
    url: str
    name: str
    timeout: float = 5.0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: RestTls | None = None
    jmx: tuple[WorkerJmxTarget, ...] = ()


@dataclass(frozen=True)
class ConnectConfig:
    clusters: tuple[ConnectClusterConfig, ...] = ()
    jmx_timeout: float = 8.0
    java: str = "java"


_CLUSTER_KEYS = ("url", "name", "timeout_seconds", "username", "password", "tls", "jmx")
_TLS_KEYS = ("ca_file", "cert_file", "key_file", "insecure_skip_verify")


def _file(path: str, value: Any) -> str:
    text = _str(path, value)
    if not os.access(text, os.R_OK):
        raise ConfigError(path, f"cannot read {text}: {'no such file' if not os.path.exists(text) else 'permission denied'}")
    return text


def _cluster(path: str, item: Any) -> ConnectClusterConfig:
    if isinstance(item, str):
        item = {"url": item}
    c = _mapping(path, item, _CLUSTER_KEYS)
    if "url" not in c:
        raise ConfigError(f"{path}.url", "missing: the Connect REST URL (http://host:8083 or https://...)")
    url = _str(f"{path}.url", c["url"]).rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https") or not rest:
        raise ConfigError(f"{path}.url", f"{url!r} is not an http:// or https:// URL")
    timeout = 5.0
    if "timeout_seconds" in c:
        value = c["timeout_seconds"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.1 <= value <= 60:
            raise ConfigError(f"{path}.timeout_seconds", f"expected a number in [0.1, 60], got {value!r}")
        timeout = float(value)
    username = _str(f"{path}.username", c["username"]) if "username" in c else None
    password = _secret(f"{path}.password", c["password"]) if "password" in c else None
    if (username is None) != (password is None):
        raise ConfigError(path, "set both username and password, or neither")
    tls = None
    if c.get("tls") is not None:
        t = _mapping(f"{path}.tls", c["tls"], _TLS_KEYS)
        tls = RestTls(
            ca_file=_file(f"{path}.tls.ca_file", t["ca_file"]) if "ca_file" in t else None,
            cert_file=_file(f"{path}.tls.cert_file", t["cert_file"]) if "cert_file" in t else None,
            key_file=_file(f"{path}.tls.key_file", t["key_file"]) if "key_file" in t else None,
            insecure_skip_verify=_bool(f"{path}.tls.insecure_skip_verify", t["insecure_skip_verify"])
            if "insecure_skip_verify" in t
            else False,
        )
        if (tls.cert_file is None) != (tls.key_file is None):
            raise ConfigError(f"{path}.tls", "set both cert_file and key_file, or neither")
        if scheme != "https":
            raise ConfigError(f"{path}.tls", f"TLS settings need an https:// url, got {url!r}")
    jmx = []
    for i, target in enumerate(_list(f"{path}.jmx", c.get("jmx"))):
        jpath = f"{path}.jmx[{i}]"
        if isinstance(target, str):
            target = {"address": target}
        j = _mapping(jpath, target, ("address", *_AUTH_KEYS))
        if "address" not in j:
            raise ConfigError(f"{jpath}.address", "missing: the worker's JMX host:port")
        jmx.append(WorkerJmxTarget(_address(f"{jpath}.address", j["address"]), _auth(jpath, j)))
    name = _str(f"{path}.name", c["name"]) if "name" in c else url
    return ConnectClusterConfig(url, name, timeout, username, password, tls, tuple(jmx))


def validate(path: str, data: Any) -> ConnectConfig | None:
    """Validator of ``Config.connect``: the raw ``connect`` mapping -> :class:`ConnectConfig`."""
    if data is None:
        return None
    top = _mapping(path, data, ("clusters", "jmx_timeout_seconds", "java"))
    clusters: list[ConnectClusterConfig] = []
    names: set[str] = set()
    for i, item in enumerate(_list(f"{path}.clusters", top.get("clusters"))):
        cluster = _cluster(f"{path}.clusters[{i}]", item)
        if cluster.name in names:
            raise ConfigError(f"{path}.clusters[{i}].name", f"Connect cluster {cluster.name!r} is listed twice")
        names.add(cluster.name)
        clusters.append(cluster)
    if not clusters:
        raise ConfigError(f"{path}.clusters", "list at least one Connect cluster (url), or remove the connect section")
    jmx_timeout = 8.0
    if "jmx_timeout_seconds" in top:
        value = top["jmx_timeout_seconds"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.5 <= value <= 300:
            raise ConfigError(f"{path}.jmx_timeout_seconds", f"expected a number in [0.5, 300], got {value!r}")
        jmx_timeout = float(value)
    java = _str(f"{path}.java", top["java"]) if "java" in top else "java"
    return ConnectConfig(tuple(clusters), jmx_timeout, java)


def of(config: Any) -> ConnectConfig | None:
    """The validated connect section of a :class:`exporter.config.Config`, or None."""
    section = getattr(config, "connect", None)
    return section if isinstance(section, ConnectConfig) else None

"""Protection of the exporter's own endpoints: the Prometheus exporter-toolkit web config file.

The file format is the one every official Prometheus exporter reads with
``--web.config.file`` (https://prometheus.io/docs/prometheus/latest/configuration/https/),
so operators can reuse what they already have::

    tls_server_config:
      cert_file: server.crt          # relative paths are relative to this file
      key_file: server.key
      client_auth_type: RequireAndVerifyClientCert
      client_ca_file: clients-ca.crt
      min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...         # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':\\n')

Only what Python's ``ssl`` module can honour is accepted; anything else is a clear error
rather than a silently ignored security setting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import ssl
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from exporter.configbase import ConfigError, read_yaml

#: the config path every error of this file is reported under
PATH = "web.config.file"

_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
#: exporter-toolkit client_auth_type -> Python verify mode (None: not expressible with ssl)
_CLIENT_AUTH: dict[str, ssl.VerifyMode | None] = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
    "RequestClientCert": None,
    "RequireAnyClientCert": None,
}
_TLS_KEYS = (
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
    "client_allowed_sans",
)
_BCRYPT_RE = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
#: higher costs make the first verification of each scrape credential take many seconds
MAX_BCRYPT_COST = 16


@dataclass
class BasicAuth:
    """bcrypt-checked users, with successful verifications cached by a SHA-256 key.

    A cache hit costs one hash and one dict lookup, so a legitimate Prometheus never pays
    bcrypt after its first scrape.  Misses (wrong or new passwords) run bcrypt one at a
    time under a lock: a password-guessing client can keep at most one core busy and
    cannot slow down scrapes with the right credentials.
    """

    users: dict[str, bytes]
    #: hash checked for unknown users, as costly as the real ones (no user enumeration by timing)
    dummy: bytes
    cache_size: int = 256
    _ok: OrderedDict[bytes, None] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check(self, header: str | None) -> bool:
        """True if the Authorization header names a known user with the right password."""
        if not header or header[:6].lower() != "basic ":
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        user_b, sep, password = decoded.partition(b":")
        if not sep:
            return False
        user = user_b.decode("utf-8", "replace")
        hashed = self.users.get(user)
        known = hashed is not None
        if hashed is None:
            hashed = self.dummy
        key = hashlib.sha256(b"\0".join((user_b, hashed, password))).digest()
        with self._cache_lock:
            if key in self._ok:
                self._ok.move_to_end(key)
                return known
        with self._lock:  # one bcrypt at a time: guessing burns one core at most
            try:
                ok = bcrypt.checkpw(password, hashed)
            except ValueError:
                ok = False
        if ok and known:
            with self._cache_lock:
                self._ok[key] = None
                while len(self._ok) > self.cache_size:
                    self._ok.popitem(last=False)
        return ok and known


@dataclass
class WebConfig:
    """What the HTTP server needs: a TLS context (or None) and the users (or None)."""

    source: str = ""
    tls: ssl.SSLContext | None = None
    auth: BasicAuth | None = None
    client_auth: str = "NoClientCert"
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


def _err(where: str, message: str) -> ConfigError:
    return ConfigError(PATH, f"{where}: {message}" if where else message)


def _mapping(where: str, value: Any, known: tuple[str, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _err(where, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in known:
            raise _err(f"{where}.{key}" if where else str(key), f"unknown key; known keys: {', '.join(known)}")
    return value


def _string(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise _err(where, "expected a non-empty string")
    return value


def _readable(where: str, base: Path, value: Any) -> str:
    path = base / _string(where, value)
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise _err(where, f"cannot read {path}: {exc.strerror or exc}") from None
    return str(path)


def load(path: str | None) -> WebConfig:
    """Read and validate a web config file; ``None``/empty means plain HTTP without auth."""
    if not path:
        return WebConfig()
    try:
        data = read_yaml(path, "web config file")
    except ConfigError as exc:
        raise _err("", str(exc)) from None
    top = _mapping("", data, ("tls_server_config", "basic_auth_users", "http_server_config", "rate_limit"))
    base = Path(path).resolve().parent
    web = WebConfig(source=path)
    if "rate_limit" in top:
        raise _err("rate_limit", "not supported by this exporter")
    http_cfg = _mapping("http_server_config", top.get("http_server_config"), ("http2", "headers"))
    if "http2" in http_cfg and not isinstance(http_cfg["http2"], bool):
        raise _err("http_server_config.http2", "expected true or false")
    headers = _mapping("http_server_config.headers", http_cfg.get("headers"), tuple(http_cfg.get("headers") or ()))
    for name, value in headers.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9-]+", name) or not isinstance(value, str) or "\n" in value:
            raise _err(f"http_server_config.headers.{name}", "expected a header name and a one-line string value")
        web.headers[name] = value
    web.tls, web.client_auth = _tls(_mapping("tls_server_config", top.get("tls_server_config"), _TLS_KEYS), base)
    users = top.get("basic_auth_users")
    if users is not None:
        if not isinstance(users, dict) or not users:
            raise _err("basic_auth_users", "expected a non-empty mapping of user name to bcrypt hash")
        checked: dict[str, bytes] = {}
        for user, hashed in users.items():
            where = f"basic_auth_users.{user}"
            if not isinstance(user, str) or not user or ":" in user:
                raise _err(where, "user names are non-empty strings without ':'")
            match = _BCRYPT_RE.match(hashed) if isinstance(hashed, str) else None
            if match is None:
                # never echo the value: it may be a plain-text password pasted by mistake
                raise _err(where, "not a bcrypt hash (expected $2a$/$2b$/$2y$ with a cost and 53 characters)")
            cost = int(match.group(1))
            if not 4 <= cost <= MAX_BCRYPT_COST:
                raise _err(where, f"bcrypt cost {cost} outside [4, {MAX_BCRYPT_COST}]")
            checked[user] = hashed.encode()
        cost = max(int(h[4:6]) for h in checked.values())
        web.auth = BasicAuth(checked, bcrypt.hashpw(os.urandom(18), bcrypt.gensalt(rounds=cost)))
    return web


def _tls(cfg: dict[str, Any], base: Path) -> tuple[ssl.SSLContext | None, str]:
    if not cfg:
        return None, "NoClientCert"
    where = "tls_server_config"
    if "cert_file" not in cfg or "key_file" not in cfg:
        raise _err(where, "cert_file and key_file are both required")
    for unsupported in ("cipher_suites", "curve_preferences", "client_allowed_sans"):
        if cfg.get(unsupported):
            raise _err(f"{where}.{unsupported}", "not supported by this exporter (Python's ssl module); remove it")
    if "prefer_server_cipher_suites" in cfg and not isinstance(cfg["prefer_server_cipher_suites"], bool):
        raise _err(f"{where}.prefer_server_cipher_suites", "expected true or false")
    cert = _readable(f"{where}.cert_file", base, cfg["cert_file"])
    key = _readable(f"{where}.key_file", base, cfg["key_file"])
    ca = _readable(f"{where}.client_ca_file", base, cfg["client_ca_file"]) if cfg.get("client_ca_file") else None
    auth_type = cfg.get("client_auth_type")
    if auth_type is None or auth_type == "":
        # exporter-toolkit: a client CA without an explicit type means verify and require
        auth_type = "RequireAndVerifyClientCert" if ca else "NoClientCert"
    if not isinstance(auth_type, str) or auth_type not in _CLIENT_AUTH:
        raise _err(f"{where}.client_auth_type", f"unknown value; use one of {', '.join(_CLIENT_AUTH)}")
    mode = _CLIENT_AUTH[auth_type]
    if mode is None:
        raise _err(
            f"{where}.client_auth_type",
            f"{auth_type} (a client certificate that is not verified) is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert",
        )
    if mode != ssl.CERT_NONE and ca is None:
        raise _err(f"{where}.client_ca_file", f"required when client_auth_type is {auth_type}")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    versions = {}
    for name in ("min_version", "max_version"):
        if cfg.get(name) is not None:
            value = cfg[name]
            if not isinstance(value, str) or value not in _TLS_VERSIONS:
                raise _err(f"{where}.{name}", f"unknown TLS version; use one of {', '.join(_TLS_VERSIONS)}")
            versions[name] = _TLS_VERSIONS[value]
    context.minimum_version = versions.get("min_version", ssl.TLSVersion.TLSv1_2)
    if "max_version" in versions:
        if versions["max_version"] < context.minimum_version:
            raise _err(f"{where}.max_version", "lower than min_version")
        context.maximum_version = versions["max_version"]
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise _err(f"{where}.cert_file", f"cannot load the certificate and key: {exc.args[-1] if exc.args else exc}") from None
    if ca is not None:
        try:
            context.load_verify_locations(cafile=ca)
        except (ssl.SSLError, OSError) as exc:
            raise _err(f"{where}.client_ca_file", f"cannot load CA certificates: {exc.args[-1] if exc.args else exc}") from None
    context.verify_mode = mode
    return context, auth_type

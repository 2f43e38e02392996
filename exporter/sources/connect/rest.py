"""The Connect REST API: requests (TLS, basic auth, per-request timeouts) and the pure parser of the answers.

Three calls per cluster per cycle, plus one per connector:

* ``GET /`` -> version, commit, kafka_cluster_id;
* ``GET /connectors?expand=status&expand=info`` -> every connector's state, tasks' states
  and workers, type and config;
* ``GET /connectors/{name}/tasks`` -> the task configs (how many tasks are configured).

Every failure is a :class:`SourceError` with one line: the cluster, the call and why (HTTP
status, not JSON, not the expected shape, timeout, TLS, connection refused).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from exporter.sources.base import SourceError
from exporter.sources.connect.config import ConnectClusterConfig
from exporter.sources.connect.records import (
    CONNECTOR_TYPES,
    MAX_EXCEPTION_CHARS,
    STATES,
    ConnectCluster,
    Connector,
    ConnectTask,
)

#: an answer larger than this is refused (a Connect cluster with 1000 connectors answers ~5 MB)
MAX_BODY_BYTES = 32 * 1024 * 1024
_CLASS_RE = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*$")
_CAUSED_RE = re.compile(r"^\s*Caused by:\s*([^\s:]+)", re.MULTILINE)


def _ssl_context(cluster: ConnectClusterConfig) -> ssl.SSLContext | None:
    if not cluster.url.startswith("https://"):
        return None
    tls = cluster.tls
    ctx = ssl.create_default_context(cafile=tls.ca_file if tls else None)
    if tls is not None:
        if tls.cert_file and tls.key_file:
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
        if tls.insecure_skip_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    return ctx


class RestClient:
    """GETs against one Connect cluster's REST API."""

    def __init__(self, cluster: ConnectClusterConfig) -> None:
        self.cluster = cluster
        self._ctx = _ssl_context(cluster)
        self._auth = None
        if cluster.username is not None:
            token = base64.b64encode(f"{cluster.username}:{cluster.password or ''}".encode()).decode()
            self._auth = f"Basic {token}"

    def get(self, path: str, timeout: float | None = None) -> Any:
        where = f"Connect {self.cluster.name}: GET {path}"
        timeout = self.cluster.timeout if timeout is None else min(timeout, self.cluster.timeout)
        if timeout <= 0.05:
            raise SourceError(f"{where}: no time left in this cycle")
        req = urllib.request.Request(self.cluster.url + path, headers={"Accept": "application/json"})
        if self._auth:
            req.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self._ctx) as resp:
                ctype = resp.headers.get("Content-Type", "")
                body = resp.read(MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            hint = " (check connect username/password)" if exc.code in (401, 403) else ""
            raise SourceError(f"{where}: HTTP {exc.code} {exc.reason}{_error_message(exc)}{hint}") from None
        except TimeoutError:
            raise SourceError(f"{where}: no answer within {timeout:.1f} s") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = "timed out" if isinstance(reason, TimeoutError) else str(reason)
            raise SourceError(f"{where}: {' '.join(text.split())[:200]}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise SourceError(f"{where}: {exc.__class__.__name__}: {' '.join(str(exc).split())[:200]}") from None
        if len(body) > MAX_BODY_BYTES:
            raise SourceError(f"{where}: answer larger than {MAX_BODY_BYTES} bytes")
        try:
            return json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
            head = " ".join(body[:60].decode("utf-8", "replace").split())
            what = f"not JSON ({ctype or 'no content type'})"
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else exc.__class__.__name__
            raise SourceError(f"{where}: {what}: {detail}; starts with {head!r}") from None

    def collect(self, budget: float) -> ConnectCluster:
        """One cycle's :class:`ConnectCluster` within ``budget`` seconds."""
        deadline = time.monotonic() + budget
        root = self.get("/", deadline - time.monotonic())
        listing = self.get("/connectors?expand=status&expand=info", deadline - time.monotonic())
        state = parse_cluster(self.cluster.name, self.cluster.url, root, listing)
        for connector in state.connectors:
            path = f"/connectors/{urllib.parse.quote(connector.name, safe='')}/tasks"
            try:
                tasks = self.get(path, deadline - time.monotonic())
            except SourceError as exc:
                state.errors.append(str(exc))
                continue
            if isinstance(tasks, list):
                connector.configured_tasks = len(tasks)
            else:
                state.errors.append(f"Connect {self.cluster.name}: GET {path}: expected a list, got {_kind(tasks)}")
        return state


def _error_message(exc: urllib.error.HTTPError) -> str:
    """Connect's own reason from an error answer (``{"error_code": 500, "message": "..."}``), if any."""
    try:
        doc = json.loads(exc.read(4096))
    except (OSError, ValueError, RecursionError):
        return ""
    message = doc.get("message") if isinstance(doc, dict) else None
    return f": {' '.join(message.split())[:200]}" if isinstance(message, str) and message.strip() else ""


def _kind(value: Any) -> str:
    names: dict[type, str] = {dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def exception_class(trace: Any) -> tuple[str | None, str | None]:
    """(the exception class, the root cause's class) of a Java stack trace; never the message."""
    if not isinstance(trace, str) or not trace.strip():
        return None, None
    first = trace.strip().splitlines()[0].split(":", 1)[0].strip()
    head = first if _CLASS_RE.match(first) else "unknown"
    causes = [c for c in _CAUSED_RE.findall(trace) if _CLASS_RE.match(c)]
    root = causes[-1] if causes else head
    return head[:MAX_EXCEPTION_CHARS], root[:MAX_EXCEPTION_CHARS]


def _state(value: Any, errors: list[str], where: str) -> str:
    text = str(value).upper() if isinstance(value, str) else ""
    if text in STATES:
        return text
    errors.append(f"{where}: unknown state {str(value)[:40]!r}")
    return "UNASSIGNED"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_cluster(name: str, url: str, root: Any, listing: Any) -> ConnectCluster:
    """The answers of ``GET /`` and ``GET /connectors?expand=status&expand=info`` -> :class:`ConnectCluster`.

    Raises :class:`SourceError` when an answer is not the expected shape at all; a single
    malformed connector entry is skipped and noted in ``errors``.
    """
    where = f"Connect {name}"
    if not isinstance(root, Mapping):
        raise SourceError(f"{where}: GET /: expected an object with version and kafka_cluster_id, got {_kind(root)}")
    if not isinstance(listing, Mapping):
        raise SourceError(f"{where}: GET /connectors?expand=status&expand=info: expected an object, got {_kind(listing)}")
    out = ConnectCluster(
        name=name,
        url=url,
        version=_text(root.get("version")) or None,
        commit=_text(root.get("commit")) or None,
        kafka_cluster_id=_text(root.get("kafka_cluster_id")) or None,
    )
    for cname, entry in sorted(listing.items()):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("status"), Mapping):
            out.errors.append(f"{where}: connector {str(cname)[:80]!r}: no status in the answer")
            continue
        status: Mapping[str, Any] = entry["status"]
        info: Mapping[str, Any] = entry["info"] if isinstance(entry.get("info"), Mapping) else {}
        conn: Mapping[str, Any] = status["connector"] if isinstance(status.get("connector"), Mapping) else {}
        ctype = _text(status.get("type") or info.get("type")).lower()
        config: Mapping[str, Any] = info["config"] if isinstance(info.get("config"), Mapping) else {}
        c = Connector(
            name=str(cname),
            connector_type=ctype if ctype in CONNECTOR_TYPES else "unknown",
            state=_state(conn.get("state"), out.errors, f"{where}: connector {cname}"),
            worker=_text(conn.get("worker_id")),
            connector_class=_text(config.get("connector.class")),
            config={str(k): str(v) for k, v in config.items() if isinstance(v, (str, int, float, bool))},
        )
        c.exception, c.root_cause = exception_class(conn.get("trace"))
        for t in status.get("tasks") or []:
            if not isinstance(t, Mapping) or isinstance(t.get("id"), bool) or not isinstance(t.get("id"), int):
                out.errors.append(f"{where}: connector {cname}: a task without an id")
                continue
            exc, root_cause = exception_class(t.get("trace"))
            c.tasks.append(
                ConnectTask(
                    task=t["id"],
                    state=_state(t.get("state"), out.errors, f"{where}: task {cname}-{t['id']}"),
                    worker=_text(t.get("worker_id")),
                    exception=exc,
                    root_cause=root_cause,
                )
            )
        c.tasks.sort(key=lambda t: t.task)
        out.connectors.append(c)
    return out

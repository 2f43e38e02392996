"""The one mapping from a forwarded statistics message (envelope or bare librdkafka JSON) to a :class:`ClientInstance`.

Pure and defensive (see :mod:`.records`): wrong shapes reject the whole message with
:class:`InvalidStatsError`, unknown fields are ignored.
"""

from __future__ import annotations

import json
import math
from typing import Any

from exporter.sources.client_stats.records import (
    ENVELOPE_FORMAT,
    FORWARDED_SETTINGS,
    MAX_LABEL,
    NO_OFFSET,
    OFFSET_STORAGE,
    BrokerStats,
    ClientInstance,
    InvalidStatsError,
    PartitionStats,
    TopicStats,
    float_or,
    normalize_setting,
)


def _label(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text[:MAX_LABEL]


def _count(obj: dict[str, Any], key: str, *alternatives: str) -> int:
    """A non-negative integer counter or gauge; absent or garbage -> 0 (librdkafka omits none)."""
    for name in (key, *alternatives):
        value = obj.get(name)
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            return max(0, value)
        if isinstance(value, float) and math.isfinite(value):
            return max(0, int(value))
    return 0


def _offset(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < NO_OFFSET:
        return None
    return value


def _window_avg(obj: Any) -> tuple[float | None, float | None, int]:
    """(avg, p99, cnt) of a window-stats object; no samples in the window -> no average."""
    if not isinstance(obj, dict):
        return None, None, 0
    cnt = _count(obj, "cnt")
    if cnt == 0:
        return None, None, 0
    return _nonneg(obj.get("avg")), _nonneg(obj.get("p99")), cnt


def _nonneg(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return float(value)


def _dict(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = obj.get(key, {})
    if not isinstance(value, dict):
        raise InvalidStatsError(f"{where}{key} is a {type(value).__name__}, not an object")
    return value


def parse_message(
    value: bytes | str | None,
    key: bytes | str | None,
    timestamp: float,
) -> ClientInstance:
    """One message from the statistics topic -> a :class:`ClientInstance`.

    ``timestamp`` is when the statistics count as heard from (Unix seconds).  Raises :class:`InvalidStatsError`
    (with a one-line reason) for anything that is not librdkafka statistics.
    """
    if value is None:
        raise InvalidStatsError("empty message")
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise InvalidStatsError(f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(doc, dict):
        raise InvalidStatsError(f"top level is a {type(doc).__name__}, not an object")
    meta: dict[str, Any] = {}
    if "format" in doc:
        if doc.get("format") != ENVELOPE_FORMAT:
            raise InvalidStatsError(f"unknown envelope format {str(doc.get('format'))[:40]!r}")
        meta = doc
        stats = doc.get("stats")
        if not isinstance(stats, dict):
            raise InvalidStatsError("envelope without a stats object")
    else:
        stats = doc
    return _instance(stats, meta, _key(key), timestamp)


def _key(key: bytes | str | None) -> str:
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    return (key or "")[:MAX_LABEL]


def _instance(stats: dict[str, Any], meta: dict[str, Any], key: str, timestamp: float) -> ClientInstance:
    role = stats.get("type")
    if role not in ("producer", "consumer"):
        raise InvalidStatsError(f"type is {str(role)[:20]!r}, not producer or consumer")
    name = stats.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidStatsError("no handle name")
    client_id = _label(stats.get("client_id"))
    instance = key or f"{client_id}/{name}"[:MAX_LABEL]
    settings_raw = meta.get("settings", {})
    if not isinstance(settings_raw, dict):
        raise InvalidStatsError("envelope settings is not an object")
    settings = {
        normalize_setting(k): _label(v if isinstance(v, str) else json.dumps(v))
        for k, v in settings_raw.items()
        if isinstance(k, str) and normalize_setting(k) in FORWARDED_SETTINGS
    }
    interval = meta.get("interval_ms", settings.get("statistics.interval.ms"))
    interval_s = float_or(str(interval), 0.0) / 1000 if interval is not None else 0.0
    storage = meta.get("offset_storage")
    eos = stats.get("eos")
    producer_id: int | None = None
    if isinstance(eos, dict):
        pid = eos.get("producer_id")
        producer_id = pid if isinstance(pid, int) and not isinstance(pid, bool) else -1
    ts = stats.get("ts")
    return ClientInstance(
        instance=instance,
        client_id=client_id,
        name=name[:MAX_LABEL],
        role=role,
        librdkafka_version=_label(meta.get("librdkafka_version")),
        software=_label(meta.get("software")),
        host=_label(meta.get("host")),
        group=_label(meta.get("group_id", settings.get("group.id", ""))),
        offset_storage=storage if storage in OFFSET_STORAGE else "unknown",
        settings=settings,
        interval=interval_s if interval_s > 0 else None,
        timestamp=timestamp,
        ts_us=ts if isinstance(ts, int) and not isinstance(ts, bool) else 0,
        requests_sent=_count(stats, "tx"),
        sent_bytes=_count(stats, "tx_bytes", "txbytes"),
        responses_received=_count(stats, "rx"),
        received_bytes=_count(stats, "rx_bytes", "rxbytes"),
        messages_sent=_count(stats, "txmsgs"),
        message_bytes_sent=_count(stats, "txmsg_bytes"),
        messages_received=_count(stats, "rxmsgs"),
        message_bytes_received=_count(stats, "rxmsg_bytes"),
        reply_queue=_count(stats, "replyq"),
        queue_messages=_count(stats, "msg_cnt"),
        queue_bytes=_count(stats, "msg_size"),
        queue_max_messages=_count(stats, "msg_max"),
        queue_max_bytes=_count(stats, "msg_size_max"),
        producer_id=producer_id,
        brokers=_brokers(_dict(stats, "brokers", "")),
        topics=_topics(_dict(stats, "topics", "")) if role == "producer" else [],
        partitions=_partitions(_dict(stats, "topics", "")),
    )


def _brokers(brokers: dict[str, Any]) -> list[BrokerStats]:
    result = []
    for key, b in brokers.items():
        if not isinstance(b, dict):
            raise InvalidStatsError(f"brokers.{key[:40]} is not an object")
        # bootstrap ("configured") and logical (GroupCoordinator) entries are not brokers:
        # an idle bootstrap connection sits in DOWN/INIT without anything being wrong
        if b.get("source") != "learned":
            continue
        node = b.get("nodeid")
        if not isinstance(node, int) or isinstance(node, bool) or node < 0:
            continue
        avg, p99, _ = _window_avg(b.get("rtt"))
        state = b.get("state")
        result.append(
            BrokerStats(
                _label(b.get("name")) or str(key)[:MAX_LABEL],
                node,
                state if isinstance(state, str) else "",
                avg,
                p99,
                _count(b, "tx"),
                _count(b, "txretries"),
                _count(b, "txerrs"),
                _count(b, "rxerrs"),
                _count(b, "req_timeouts"),
                _count(b, "disconnects"),
            )
        )
    return sorted(result, key=lambda x: x.broker_id)


def _topics(topics: dict[str, Any]) -> list[TopicStats]:
    result = []
    for name, t in topics.items():
        if not isinstance(t, dict):
            raise InvalidStatsError(f"topics.{name[:40]} is not an object")
        size, _, cnt = _window_avg(t.get("batchsize"))
        msgs, _, _ = _window_avg(t.get("batchcnt"))
        result.append(TopicStats(name[:MAX_LABEL], size, msgs, cnt))
    return result


def _partitions(topics: dict[str, Any]) -> list[PartitionStats]:
    result = []
    for name, t in topics.items():
        if not isinstance(t, dict):
            raise InvalidStatsError(f"topics.{name[:40]} is not an object")
        parts = _dict(t, "partitions", f"topics.{name[:40]}.")
        for pid, p in parts.items():
            if not isinstance(p, dict):
                raise InvalidStatsError(f"topics.{name[:40]}.partitions.{pid[:10]} is not an object")
            number = p.get("partition")
            if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                continue  # -1 is librdkafka's internal UnAssigned partition
            state = p.get("fetch_state")
            lag = p.get("consumer_lag")
            lag_stored = p.get("consumer_lag_stored")
            result.append(
                PartitionStats(
                    name[:MAX_LABEL],
                    number,
                    state if isinstance(state, str) else "",
                    p.get("desired") is True,
                    _offset(p, "next_offset"),
                    _offset(p, "app_offset"),
                    _offset(p, "stored_offset"),
                    _offset(p, "committed_offset"),
                    _offset(p, "lo_offset"),
                    _offset(p, "hi_offset"),
                    _offset(p, "ls_offset"),
                    lag if isinstance(lag, int) and not isinstance(lag, bool) and lag >= 0 else None,
                    lag_stored if isinstance(lag_stored, int) and not isinstance(lag_stored, bool) and lag_stored >= 0 else None,
                    _count(p, "txmsgs"),
                    _count(p, "txbytes"),
                    _count(p, "rxmsgs"),
                    _count(p, "rxbytes"),
                    _count(p, "fetchq_cnt"),
                )
            )
    return sorted(result, key=lambda x: (x.topic, x.partition))

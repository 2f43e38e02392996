"""ClientStatsState -> the client-statistics families.  Pure."""

from __future__ import annotations

from exporter.metrics import Samples
from exporter.sources.client_stats.records import BROKER_STATES, OUTCOMES, ClientInstance, ClientStatsState
from exporter.sources.client_stats.specs import (
    BATCH_MESSAGES,
    BATCH_SIZE,
    BROKER_DISCONNECTS,
    BROKER_RETRIES,
    BROKER_RTT,
    BROKER_RTT_P99,
    BROKER_RX_ERRORS,
    BROKER_STATE,
    BROKER_TIMEOUTS,
    BROKER_TX_ERRORS,
    CLIENT_INFO,
    COMMITTED_OFFSET,
    CONSUMER_LAG,
    CONSUMER_LAG_STORED,
    EXPIRED,
    FETCH_OFFSET,
    FETCH_QUEUE,
    HIGH_WATERMARK,
    MAX_TRACKED,
    MESSAGE_BYTES_RECEIVED,
    MESSAGE_BYTES_SENT,
    MESSAGES_RECEIVED,
    MESSAGES_SENT,
    POSITION,
    QUEUE_BYTES,
    QUEUE_MAX_BYTES,
    QUEUE_MAX_MESSAGES,
    QUEUE_MESSAGES,
    RECEIVED_BYTES,
    REPLY_QUEUE,
    REQUESTS_SENT,
    RESPONSES,
    SENT_BYTES,
    STATS_AGE,
    STATS_INTERVAL,
    STATS_MESSAGES,
    STORED_OFFSET,
    TOPIC_MESSAGES_SENT,
    TRACKED,
)


def emit_client_stats(state: ClientStatsState, out: Samples) -> None:
    """ClientStatsState -> samples.  Pure."""
    for outcome in OUTCOMES:
        out.add(STATS_MESSAGES, state.outcomes.get(outcome, 0), outcome)
    out.add(TRACKED, len(state.instances))
    out.add(MAX_TRACKED, state.max_instances)
    out.add(EXPIRED, state.expired_total)
    for inst in state.instances:
        ids = (inst.client_id, inst.instance)
        out.add(
            CLIENT_INFO,
            1,
            *ids,
            inst.name,
            inst.role,
            inst.librdkafka_version,
            inst.software,
            inst.host,
            inst.group,
            inst.offset_storage,
        )
        out.add(STATS_AGE, max(0.0, state.taken - inst.timestamp), *ids)
        if inst.interval is not None:
            out.add(STATS_INTERVAL, inst.interval, *ids)
        out.add(REQUESTS_SENT, inst.requests_sent, *ids)
        out.add(SENT_BYTES, inst.sent_bytes, *ids)
        out.add(RESPONSES, inst.responses_received, *ids)
        out.add(RECEIVED_BYTES, inst.received_bytes, *ids)
        out.add(REPLY_QUEUE, inst.reply_queue, *ids)
        for b in inst.brokers:
            bl = (*ids, b.name, b.broker_id)
            for s in BROKER_STATES:
                out.add(BROKER_STATE, 1 if b.state == s else 0, *bl, s)
            if b.rtt_avg_us is not None:  # None: no request completed in the window
                out.add(BROKER_RTT, b.rtt_avg_us / 1e6, *bl)
            if b.rtt_p99_us is not None:
                out.add(BROKER_RTT_P99, b.rtt_p99_us / 1e6, *bl)
            out.add(BROKER_RETRIES, b.request_retries, *bl)
            out.add(BROKER_TX_ERRORS, b.transmit_errors, *bl)
            out.add(BROKER_RX_ERRORS, b.receive_errors, *bl)
            out.add(BROKER_TIMEOUTS, b.request_timeouts, *bl)
            out.add(BROKER_DISCONNECTS, b.disconnects, *bl)
        if inst.role == "producer":
            _emit_producer(inst, out)
        else:
            _emit_consumer(inst, out)


def _emit_producer(inst: ClientInstance, out: Samples) -> None:
    ids = (inst.client_id, inst.instance)
    out.add(MESSAGES_SENT, inst.messages_sent, *ids)
    out.add(MESSAGE_BYTES_SENT, inst.message_bytes_sent, *ids)
    out.add(QUEUE_MESSAGES, inst.queue_messages, *ids)
    out.add(QUEUE_BYTES, inst.queue_bytes, *ids)
    out.add(QUEUE_MAX_MESSAGES, inst.queue_max_messages, *ids)
    out.add(QUEUE_MAX_BYTES, inst.queue_max_bytes, *ids)
    sent: dict[str, int] = {}
    for p in inst.partitions:
        sent[p.topic] = sent.get(p.topic, 0) + p.txmsgs
    for t in inst.topics:
        if t.batch_size_avg is not None:
            out.add(BATCH_SIZE, t.batch_size_avg, *ids, t.topic)
        if t.batch_messages_avg is not None:
            out.add(BATCH_MESSAGES, t.batch_messages_avg, *ids, t.topic)
        out.add(TOPIC_MESSAGES_SENT, sent.get(t.topic, 0), *ids, t.topic)


def _emit_consumer(inst: ClientInstance, out: Samples) -> None:
    ids = (inst.client_id, inst.instance)
    out.add(MESSAGES_RECEIVED, inst.messages_received, *ids)
    out.add(MESSAGE_BYTES_RECEIVED, inst.message_bytes_received, *ids)
    for p in inst.assigned_partitions:
        labels = (*ids, inst.group, p.topic, p.partition)
        for spec, value in (
            (POSITION, p.app_offset),
            (FETCH_OFFSET, p.next_offset),
            (STORED_OFFSET, p.stored_offset),
            (COMMITTED_OFFSET, p.committed_offset),
            (HIGH_WATERMARK, p.hi_offset),
            (CONSUMER_LAG, p.consumer_lag),
            (CONSUMER_LAG_STORED, p.consumer_lag_stored),
        ):
            if value is not None:
                out.add(spec, value, *labels)
        out.add(FETCH_QUEUE, p.fetchq_cnt, *labels)

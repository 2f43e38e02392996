"""The canary's bookkeeping (pure, thread-safe): what was acknowledged where, what was read back.

A record's value is ``kic1:<session>:<partition>:<sequence>:<send time ns>``.  The
:class:`Ledger` remembers, per partition and for a bounded window, the offset at which each
record of THIS session was acknowledged; the reader reports what it finds at offsets and the
log end.  Records of other sessions (an earlier run of the exporter) are never in the window,
so a restart never reports them as lost.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field

from exporter.sources.canary.specs import LATENCY_BUCKETS

MAGIC = "kic1"


@dataclass(frozen=True)
class CanaryRecord:
    session: str
    partition: int
    sequence: int
    sent_ns: int

    def encode(self) -> bytes:
        return f"{MAGIC}:{self.session}:{self.partition}:{self.sequence}:{self.sent_ns}".encode()

    @classmethod
    def decode(cls, value: bytes | None) -> CanaryRecord | None:
        if not value:
            return None
        try:
            magic, session, partition, sequence, sent = value.decode("ascii").split(":")
            if magic != MAGIC:
                return None
            return cls(session, int(partition), int(sequence), int(sent))
        except (UnicodeDecodeError, ValueError):
            return None


@dataclass(frozen=True)
class Acked:
    sequence: int
    sent_ns: int
    #: the partition's leader when the record was sent (-1 unknown)
    broker: int


@dataclass
class Histogram:
    """Latency buckets (a count per bucket here, cumulative when snapshotted, as Prometheus wants)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), the last bound +Inf."""
        out, running = [], 0
        for bound, count in zip((*LATENCY_BUCKETS, math.inf), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass(frozen=True)
class CanarySnapshot:
    """What the source's collect() hands to emit (copies: the threads keep counting)."""

    topic: str
    session: str
    attempts: dict[tuple[int, int], int]
    failures: dict[tuple[int, int, str], int]
    #: refusal probes sent and failed (partition, broker[, error])
    probes: dict[tuple[int, int], int]
    probe_failures: dict[tuple[int, int, str], int]
    acked: dict[tuple[int, int], int]
    read: dict[tuple[int, int], int]
    lost: dict[tuple[int, int, str], int]
    out_of_order: dict[int, int]
    duplicated: dict[int, int]
    #: partition -> send time (ns) of the newest record of this session read back
    newest_sent_ns: dict[int, int]
    ack_latency: dict[int, list[tuple[float, int]]]
    ack_latency_sum: dict[int, float]
    e2e_latency: dict[int, list[tuple[float, int]]]
    e2e_latency_sum: dict[int, float]
    #: broker -> canary partitions it leads (every broker in the metadata)
    led: dict[int, int]
    window: int
    taken_ns: int


class Ledger:
    """Counters and the acknowledgement window, shared by the producer and reader threads."""

    def __init__(self, topic: str, session: str, window: int) -> None:
        self.topic = topic
        self.session = session
        self.window = window
        self._lock = threading.Lock()
        #: partition -> offset -> what was acknowledged there (oldest first)
        self._acks: dict[int, OrderedDict[int, Acked]] = {}
        #: partition -> (offset, sequence) of the last record of this session read at a new offset
        self._last_read: dict[int, tuple[int, int]] = {}
        #: partition -> sequences read back recently (for duplicates), bounded like the window
        self._seen: dict[int, OrderedDict[int, int]] = {}
        #: partition -> the leader now (from the latest metadata)
        self.leaders: dict[int, int] = {}
        self.led: dict[int, int] = {}
        self.attempts: dict[tuple[int, int], int] = {}
        self.failures: dict[tuple[int, int, str], int] = {}
        self.probes: dict[tuple[int, int], int] = {}
        self.probe_failures: dict[tuple[int, int, str], int] = {}
        self.acked: dict[tuple[int, int], int] = {}
        self.read: dict[tuple[int, int], int] = {}
        self.lost: dict[tuple[int, int, str], int] = {}
        self.out_of_order: dict[int, int] = {}
        self.duplicated: dict[int, int] = {}
        self.newest_sent_ns: dict[int, int] = {}
        self.ack_latency: dict[int, Histogram] = {}
        self.e2e_latency: dict[int, Histogram] = {}

    # -- producer side ---------------------------------------------------------------
    def leader(self, partition: int) -> int:
        return self.leaders.get(partition, -1)

    def sent(self, partition: int, broker: int) -> None:
        with self._lock:
            key = (partition, broker)
            self.attempts[key] = self.attempts.get(key, 0) + 1

    def failed(self, partition: int, broker: int, error: str) -> None:
        with self._lock:
            key = (partition, broker, error)
            self.failures[key] = self.failures.get(key, 0) + 1

    def probed(self, partition: int, broker: int) -> None:
        with self._lock:
            key = (partition, broker)
            self.probes[key] = self.probes.get(key, 0) + 1

    def probe_failed(self, partition: int, broker: int, error: str) -> None:
        with self._lock:
            key = (partition, broker, error)
            self.probe_failures[key] = self.probe_failures.get(key, 0) + 1

    def acknowledged(self, record: CanaryRecord, offset: int, broker: int, now_ns: int) -> None:
        with self._lock:
            p = record.partition
            window = self._acks.setdefault(p, OrderedDict())
            previous = window.get(offset)
            if previous is not None and previous.sequence != record.sequence:
                # the log was truncated and refilled: the record acknowledged here before is gone
                self._lose(p, offset, "different_record")
            window[offset] = Acked(record.sequence, record.sent_ns, broker)
            while len(window) > self.window:  # bounded memory: the oldest leave unchecked
                window.popitem(last=False)
            key = (p, broker)
            self.acked[key] = self.acked.get(key, 0) + 1
            self.ack_latency.setdefault(broker, Histogram()).observe(max(0.0, (now_ns - record.sent_ns) / 1e9))

    # -- reader side -----------------------------------------------------------------
    def _lose(self, partition: int, offset: int, reason: str) -> None:
        acked = self._acks[partition].pop(offset)
        key = (partition, acked.broker, reason)
        self.lost[key] = self.lost.get(key, 0) + 1

    def found(self, partition: int, offset: int, value: bytes | None, now_ns: int) -> None:
        """The reader read ``value`` at ``offset`` of ``partition``."""
        record = CanaryRecord.decode(value)
        with self._lock:
            window = self._acks.get(partition)
            expected = window.get(offset) if window else None
            ours = record is not None and record.session == self.session and record.partition == partition
            if expected is not None and not (ours and record is not None and record.sequence == expected.sequence):
                self._lose(partition, offset, "different_record")
            if not ours or record is None or record.sequence < 0:
                return  # another session's, or a refusal probe's record (sequence -1, see runner._probe_all)
            broker = self.leaders.get(partition, -1)
            last = self._last_read.get(partition)
            if last is not None and offset <= last[0]:
                return  # read again (the reader was reset backwards): counted already
            seen = self._seen.setdefault(partition, OrderedDict())
            if record.sequence in seen and seen[record.sequence] != offset:
                self.duplicated[partition] = self.duplicated.get(partition, 0) + 1
            elif last is not None and record.sequence < last[1]:
                self.out_of_order[partition] = self.out_of_order.get(partition, 0) + 1
            seen[record.sequence] = offset
            while len(seen) > self.window:
                seen.popitem(last=False)
            self._last_read[partition] = (offset, max(record.sequence, last[1] if last else -1))
            key = (partition, broker)
            self.read[key] = self.read.get(key, 0) + 1
            if record.sent_ns > self.newest_sent_ns.get(partition, 0):
                self.newest_sent_ns[partition] = record.sent_ns
            self.e2e_latency.setdefault(broker, Histogram()).observe(max(0.0, (now_ns - record.sent_ns) / 1e9))

    def log_end(self, partition: int, end: int) -> int:
        """The partition's log end (high watermark) is ``end``: acknowledged records at or beyond
        it are lost.  Returns how many were found lost now."""
        with self._lock:
            window = self._acks.get(partition)
            if not window:
                return 0
            gone = [offset for offset in window if offset >= end]
            for offset in gone:
                self._lose(partition, offset, "beyond_log_end")
            last = self._last_read.get(partition)
            if gone and last is not None and last[0] >= end:
                # the log was truncated below what was read: offsets from ``end`` on are new
                self._last_read[partition] = (end - 1, last[1])
            return len(gone)

    def window_size(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._acks.values())

    def acked_offsets(self, partition: int) -> dict[int, int]:
        """offset -> sequence of the acknowledged records in the window (tests, debugging)."""
        with self._lock:
            return {offset: a.sequence for offset, a in self._acks.get(partition, {}).items()}

    def set_leaders(self, leaders: dict[int, int], brokers: list[int]) -> None:
        with self._lock:
            self.leaders = dict(leaders)
            led = dict.fromkeys(brokers, 0)
            for broker in leaders.values():
                if broker >= 0:
                    led[broker] = led.get(broker, 0) + 1
            self.led = led

    def snapshot(self, now_ns: int) -> CanarySnapshot:
        with self._lock:
            return CanarySnapshot(
                topic=self.topic,
                session=self.session,
                attempts=dict(self.attempts),
                failures=dict(self.failures),
                probes=dict(self.probes),
                probe_failures=dict(self.probe_failures),
                acked=dict(self.acked),
                read=dict(self.read),
                lost=dict(self.lost),
                out_of_order=dict(self.out_of_order),
                duplicated=dict(self.duplicated),
                newest_sent_ns=dict(self.newest_sent_ns),
                ack_latency={b: h.cumulative() for b, h in self.ack_latency.items()},
                ack_latency_sum={b: h.total for b, h in self.ack_latency.items()},
                e2e_latency={b: h.cumulative() for b, h in self.e2e_latency.items()},
                e2e_latency_sum={b: h.total for b, h in self.e2e_latency.items()},
                led=dict(self.led),
                window=sum(len(w) for w in self._acks.values()),
                taken_ns=now_ns,
            )

"""Reading every partition's offsets with ``list_offsets``: per leader, a window of calls in
flight, retrying partitions whose leader is moving, until the cycle's deadline.

One call's futures all complete together, with its slowest leader, so the calls go per
leader (a dead leader holds back only its own), in chunks of :data:`OFFSETS_CHUNK`
partitions, at most :data:`OFFSETS_PARTITIONS_IN_FLIGHT` partitions in flight over all
leaders (confluent-kafka keeps a Future per partition of a call).
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from queue import Empty, SimpleQueue
from typing import Any

from confluent_kafka import IsolationLevel, TopicPartition
from confluent_kafka.admin import OffsetSpec

from exporter.sources.admin.records import Partition
from exporter.sources.admin.settle import NO_ANSWER, settle

#: partitions per list_offsets call.  librdkafka's cost per call grows faster than the
#: partition count (one call for 10k partitions: 3.5 s; ten calls of 1000: 0.6-1.0 s, all in
#: flight at once; benchmarks/bench.py measures both), so large clusters are chunked.
OFFSETS_CHUNK = 1000


def leader_batches(partitions: Iterable[Partition], chunk: int = OFFSETS_CHUNK) -> list[tuple[int, list[tuple[str, int]]]]:
    """(leader, [(topic, partition), ...]) batches for list_offsets: one leader per call, at
    most ``chunk`` partitions per call.

    One call's futures all complete together, when its slowest leader answers: with a
    broker just killed and still listed as leader, one call for every partition answered
    nothing until the dead broker's request timed out (measured on the real cluster).  Per
    leader, the others' offsets come back at once.  Partitions without a leader are not
    asked: nobody can answer (they are flagged offline)."""
    by_leader: dict[int, list[tuple[str, int]]] = {}
    for p in partitions:
        if p.leader >= 0:
            by_leader.setdefault(p.leader, []).append((p.topic, p.partition))
    return [(leader, keys[i : i + chunk]) for leader, keys in sorted(by_leader.items()) for i in range(0, len(keys), chunk)]


#: the offsets of a partition read each cycle: (request as counted in ``request_errors``,
#: the Partition attribute it fills, what list_offsets asks, isolation level)
OFFSET_KINDS = (
    ("list_offsets_earliest", "log_start_offset", OffsetSpec.earliest(), IsolationLevel.READ_UNCOMMITTED),
    ("list_offsets_latest", "log_end_offset", OffsetSpec.latest(), IsolationLevel.READ_UNCOMMITTED),
    ("list_offsets_read_committed", "last_stable_offset", OffsetSpec.latest(), IsolationLevel.READ_COMMITTED),
)
#: request -> the request whose call for the same batch must have been answered before its
#: call goes out.  The last stable offset is the high watermark when no transaction is open,
#: and the high watermark only grows: read after the log end, the LSO is below it only when a
#: transaction is open.  With both in flight at once nothing fixed which was read first: a
#: busy partition with no transaction showed an LSO above its log end (the real cluster, most
#: cycles) or below it (the demo, once: KafkaLastStableOffsetStuck's expression held).
READ_AFTER = {"list_offsets_read_committed": "list_offsets_latest"}
#: partitions whose offsets are asked at once, over all leaders (each call in flight holds a
#: Future per partition).  confluent-kafka makes a Future (with its own Condition and lock,
#: ~1-2 KB) per partition of a call and keeps it until the caller drops the call's dict: with
#: every call in flight at once, 150,000 of them (50k partitions, three kinds) and their
#: results were ~300 MB of the Admin-API worker's peak.  A fixed 8 calls per leader bounded
#: that on Tansu's single leader but serialised it (10k partitions: 30 calls, 8 at a time),
#: and did not bound it at all with many leaders (8 calls x 30 brokers x 1,000 partitions).
OFFSETS_PARTITIONS_IN_FLIGHT = 24_000


def offsets_window(batches: list[tuple[int, list[tuple[str, int]]]], in_flight: int | None = None) -> int:
    """list_offsets calls in flight per leader for ``batches`` (see :func:`leader_batches`):
    ``in_flight`` partitions (default :data:`OFFSETS_PARTITIONS_IN_FLIGHT`) shared between
    the leaders, at least one call each (a leader never waits for another)."""
    in_flight = OFFSETS_PARTITIONS_IN_FLIGHT if in_flight is None else in_flight
    leaders = len({leader for leader, _ in batches})
    largest = max((len(keys) for _, keys in batches), default=1)
    return max(1, in_flight // (max(1, leaders) * max(1, largest)))


#: partition errors of ListOffsets that say leadership is moving (librdkafka's names): the
#: partition is asked again within the cycle, as Kafka's own admin client retries every
#: retriable ListOffsets error.  Seen on the real cluster 10 s after a broker was killed: the
#: new leader answered UNKNOWN_LEADER_EPOCH (the client had learned of the election before
#: the broker) and the partition's offsets were missing for the cycle.
LEADER_MOVING = frozenset(
    {
        "NOT_LEADER_FOR_PARTITION",  # NOT_LEADER_OR_FOLLOWER
        "LEADER_NOT_AVAILABLE",
        "UNKNOWN_LEADER_EPOCH",
        "FENCED_LEADER_EPOCH",
        "REPLICA_NOT_AVAILABLE",
        "OFFSET_NOT_AVAILABLE",  # a new leader before its high watermark is known
    }
)
#: seconds before each retry of a partition whose leader is moving (Kafka's clients: 100 ms,
#: growing); after the last one its error stands
LEADER_MOVING_BACKOFF = (0.1, 0.2, 0.4, 0.8)


#: one list_offsets call: (request, attr, spec, isolation, keys, retries so far, batch index)
_OffsetsCall = tuple[str, str, Any, Any, list[tuple[str, int]], int, int]


def leader_moving(why: str) -> bool:
    return why.split(":", 1)[0] in LEADER_MOVING


def read_offsets(
    admin: Any,
    batches: list[tuple[int, list[tuple[str, int]]]],
    kinds: tuple[tuple[str, str, Any, Any], ...],
    until: float,
    timeout: Callable[[], float],
    apply: Callable[[str, Any, int], None],
    window: int | None = None,
) -> dict[str, dict[Any, str]]:
    """Every kind of offset of the partitions in ``batches`` (see :func:`leader_batches`),
    at most ``window`` calls in flight per leader (default :func:`offsets_window`): each call is settled, its answers handed to
    ``apply(attr, topic_partition, offset)`` (offsets >= 0) and its futures dropped as soon as
    it completes, and the leader's next call goes out.  Leaders do not wait for each other, so
    a dead leader holds back only its own calls, as before.  A partition refused because its
    leader is moving (:data:`LEADER_MOVING`) is asked again after a backoff
    (:data:`LEADER_MOVING_BACKOFF`) while there is time.  A call of a kind in
    :data:`READ_AFTER` waits until the call it follows, for the same batch, was answered,
    retries included.  By ``until`` what has not answered (or was not asked yet) fails with
    :data:`NO_ANSWER`.  Returns per request (``kinds``' first field) the failed partitions
    by TopicPartition and why."""
    failed: dict[str, dict[Any, str]] = {kind[0]: {} for kind in kinds}
    if window is None:
        window = offsets_window(batches)
    requests = {kind[0] for kind in kinds}
    follows = {request: first for request, first in READ_AFTER.items() if request in requests and first in requests}
    # the kinds others follow go first, those following last: by the time the calls of the
    # others are answered, theirs can go out (no call waits while the window has room)
    order = sorted(kinds, key=lambda kind: 0 if kind[0] in follows.values() else 2 if kind[0] in follows else 1)
    queues: dict[int, deque[_OffsetsCall]] = {}
    for request, attr, spec, isolation in order:  # per leader: all of one kind, then the next
        for batch, (leader, keys) in enumerate(batches):
            queues.setdefault(leader, deque()).append((request, attr, spec, isolation, keys, 0, batch))
    #: (request, batch) of the calls others follow that are not answered yet (retries included)
    unanswered = {(first, batch) for first in follows.values() for batch in range(len(batches))}
    #: (request it follows, batch) -> the call held back until that one was answered
    held: dict[tuple[str, int], _OffsetsCall] = {}
    retries: list[tuple[float, int, int, _OffsetsCall]] = []  # heap of (due, tie, leader, call)
    finished: SimpleQueue[int] = SimpleQueue()
    in_flight: dict[int, tuple[int, _OffsetsCall, dict[Any, Future[Any]]]] = {}
    ids = itertools.count()

    def issue_next(leader: int) -> None:
        """The leader's next call, past the ones that must wait (held until released)."""
        queue = queues[leader]
        while queue:
            what = queue.popleft()
            first = follows.get(what[0])
            if first is not None and (first, what[6]) in unanswered:
                held[(first, what[6])] = what
                continue
            issue(leader, what)
            return

    def issue(leader: int, what: _OffsetsCall) -> None:
        _, _, spec, isolation, keys, _, _ = what
        futures = admin.list_offsets(
            {TopicPartition(t, p): spec for t, p in keys}, isolation_level=isolation, request_timeout=timeout()
        )
        call = next(ids)
        in_flight[call] = (leader, what, futures)
        # one call's futures complete together (librdkafka answers a call at once)
        first = next(iter(futures.values()), None)
        if first is None:
            finished.put(call)
        else:
            first.add_done_callback(lambda _f, call=call: finished.put(call))

    def settle_call(call: int, deadline: float) -> int:
        leader, what, futures = in_flight.pop(call)
        request, attr, _, _, _, tries, batch = what
        settled = settle(futures, deadline)
        done = failed[request]
        for tp, info in settled.answered.items():
            done.pop(tp, None)  # refused before, answered on a retry
            if info.offset >= 0:
                apply(attr, tp, info.offset)
        done.update(settled.failed)
        again = [(tp.topic, tp.partition) for tp, why in settled.failed.items() if leader_moving(why)]
        due = time.monotonic() + LEADER_MOVING_BACKOFF[tries] if again and tries < len(LEADER_MOVING_BACKOFF) else until
        if due < until:
            heapq.heappush(retries, (due, next(ids), leader, (*what[:4], again, tries + 1, batch)))
        elif (request, batch) in unanswered:  # answered, retries included: who follows may go
            unanswered.discard((request, batch))
            released = held.pop((request, batch), None)
            if released is not None:
                queues[leader].appendleft(released)
        return leader

    for _ in range(window):  # the first calls of every leader, round robin
        for leader in queues:
            issue_next(leader)
    while in_flight or retries:
        now = time.monotonic()
        while retries and retries[0][0] <= now:
            _, _, leader, what = heapq.heappop(retries)
            issue(leader, what)
        if now >= until:
            break
        wait = until - now if not retries else min(until, retries[0][0]) - now
        if not in_flight:
            time.sleep(max(0.0, wait))
            continue
        try:
            call = finished.get(timeout=max(0.0, wait))
        except Empty:
            continue  # a retry is due, or the deadline: whatever is still out has not answered
        leader = settle_call(call, until)
        if time.monotonic() < until:
            issue_next(leader)
    for call in list(in_flight):
        settle_call(call, until)
    for what in [*(what for queue in queues.values() for what in queue), *held.values()]:
        request, keys = what[0], what[4]  # never asked: no time was left for them
        failed[request].update((TopicPartition(t, p), NO_ANSWER) for t, p in keys)
    return failed

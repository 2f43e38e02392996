"""The Admin-API client runs in a worker process of its own.

librdkafka (2.16 and earlier) dereferences a NULL consumer-group handle when an Admin
client's ``list_consumer_group_offsets`` gets NOT_COORDINATOR back (librdkafka#5040,
confluent-kafka-python#1982): the whole process dies with SIGSEGV. That answer is normal
while a group's coordinator moves, i.e. whenever a broker restarts (live we also saw
SIGABRT, ``rd_kafka_enq_once_del_source_return: Assertion eonce->refcnt > 0``, in the cycles
after a broker was killed). In a worker process such a crash costs a restarted worker, not
the exporter: the collection asks the groups last and the worker sends the state as it is
before them ahead (``{"kind": "partial"}``: metadata, offsets, the configs that answered), so
a cycle in which it dies there still exports that state, the groups counted as missing; a
worker that dies before is replaced and asked again when enough of the cycle is left. It also keeps confluent-kafka's long GIL holds while
building big results out of the process that serves ``/metrics``.

Protocol, in :mod:`exporter.ipc` frames (``{JSON} + body``): the parent starts with
``{"kind": "start", "level": L}`` + the pickled Config, then sends ``{"kind": "collect",
"seq": n, "deadline": d}`` (``time.monotonic()``, one clock for the machine's processes); the
worker answers ``{"kind": "partial", "seq": n}`` + the state before the groups once, then
``{"kind": "tail", "seq": n}`` + the pickled :class:`~.records.StateTail` (what changed since:
the parent applies it to the partial state it unpickled while the groups were read), or
``{"kind": "ok", "seq": n}`` + the whole pickled ClusterState when nothing was sent ahead, or
``{"kind": "error", "seq": n, "message": ...}``, and after a ``tail`` or ``ok`` it renders the
Admin-API families of that state itself and sends ``{"kind": "block", "seq": n, "series": ...,
"names": [...], "dropped": {...}}`` + the rendered text as the body (not pickled: no copy) (or ``{"kind": "block-error", "seq": n, "message": ...}``): the
collector interprets the state meanwhile, so the ~116k series of raw Admin-API families
(10k partitions / 500 groups) cost the cycle nothing on its critical path.  Frames of an
older ``seq`` (a cycle that gave up waiting) are skipped.  ``{"kind": "stop"}`` or the end
of the stream ends the worker.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from exporter.heap import trim_heap
from exporter.ipc import Channel, unpickle
from exporter.metrics import RenderedBlock
from exporter.sources.admin.client import AdminCollector, deadline_margin
from exporter.sources.admin.emit import render_block
from exporter.sources.admin.records import ClusterState, StateTail
from exporter.sources.base import SourceError
from exporter.subproc import ChildProcess

if TYPE_CHECKING:
    from exporter.config import Config

log = logging.getLogger(__name__)

#: see AdminWorker._note_churn
RENEW_AFTER_CHURNED_PARTITIONS = 10_000


def _serve(channel: Channel, config: Config, level: int) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s [admin worker]: %(message)s")
    logging.getLogger("librdkafka").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.ERROR)
    collector = AdminCollector(config)
    while True:
        try:
            request, _ = channel.recv()
        except (EOFError, OSError):
            return
        if request.get("kind") != "collect":
            return
        seq = request["seq"]
        deadline = request.get("deadline")  # time.monotonic(), one clock for the machine's processes
        gc.disable()  # as in the collector: ~100k result objects, freed by reference counting
        try:
            state: ClusterState | None = None
            block: RenderedBlock | None = None
            error = ""
            sent_ahead = False

            def checkpoint(partial: ClusterState, seq: int = seq) -> None:
                nonlocal sent_ahead
                channel.send_object({"kind": "partial", "seq": seq}, partial)
                sent_ahead = True

            try:
                state = collector.collect(checkpoint, deadline)
            except SourceError as exc:
                error = str(exc)
            except Exception as exc:
                error = f"{exc.__class__.__name__}: {exc}"
            try:
                if state is None:
                    channel.send({"kind": "error", "seq": seq, "message": error})
                    continue
                if sent_ahead:  # the parent has the rest: only what changed since (see StateTail)
                    channel.send_object({"kind": "tail", "seq": seq}, StateTail.of(state, collector.reread))
                else:
                    channel.send_object({"kind": "ok", "seq": seq}, state)
                try:
                    # over the series budget the collector emits the group partitions it chooses
                    block = render_block(state, not state.over_budget(config.series_budget.group_partitions))
                except Exception as exc:
                    channel.send({"kind": "block-error", "seq": seq, "message": f"{exc.__class__.__name__}: {exc}"})
                else:
                    # the text as the frame's body, not pickled: no copy of tens of MB on either side
                    meta = {"kind": "block", "seq": seq, "series": block.series, "names": list(block.names), "dropped": block.dropped}
                    channel.send(meta, block.text)
            except (OSError, ValueError):
                return
        finally:
            gc.enable()
            # the state lives on in the parent: free it here, and give the heap back (glibc
            # kept ~100 MB mapped between cycles at 10k partitions / 500 groups)
            del state, block
            trim_heap()


class AdminWorker:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._process: ChildProcess | None = None
        self._channel: Channel | None = None
        self._lock = threading.Lock()
        self._seq = 0
        #: the cycle whose rendered block is still to be read (None: none is coming)
        self._block_due: int | None = None
        #: partitions per topic name this worker has seen (see _note_churn)
        self._seen: dict[str, int] = {}
        self._renew_due = False

    def _note_churn(self, state: ClusterState) -> None:
        """Plan a fresh worker once many partitions came and went.

        A long-lived librdkafka client keeps a little memory for every topic it ever saw,
        and the worker's heap fragments as topics churn: in the churn benchmark (1,000
        partitions deleted and created per round) the worker grew ~0.2 MB a round while
        the collector stayed flat.  Once the partitions of topics that are gone exceed both
        RENEW_AFTER_CHURNED_PARTITIONS and the cluster's current partition count, the worker
        is replaced (gracefully, before the next cycle), which bounds that memory."""
        current = {name: len(topic.partitions) for name, topic in state.topics.items()}
        self._seen.update(current)
        gone = sum(n for name, n in self._seen.items() if name not in current)
        if gone > max(RENEW_AFTER_CHURNED_PARTITIONS, sum(current.values())):
            log.info("%d partitions of deleted topics seen since the Admin-API worker started: renewing it", gone)
            self._renew_due = True

    def _retire(self) -> None:
        if self._channel is not None and self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._channel.send({"kind": "stop"})
            self._process.join(3)
        self._discard()

    def _start(self) -> Channel:
        # a fresh interpreter: no fork of a process with librdkafka threads
        self._seen = {}  # churn is counted per worker (see _note_churn)
        channel, theirs = Channel.pair()
        try:
            process = ChildProcess(__name__, [theirs.fileno()])
        finally:
            theirs.close()
        self._process, self._channel = process, channel
        channel.send_object({"kind": "start", "level": logging.getLogger().getEffectiveLevel()}, self.config)
        return channel

    def collect(self) -> ClusterState:
        with self._lock:
            if self._renew_due:
                self._renew_due = False
                self._retire()
            return self._collect(time.monotonic(), retry=True)

    def _collect(self, started: float, retry: bool) -> ClusterState:
        channel = self._channel
        if channel is None or self._process is None or not self._process.is_alive():
            self._discard()
            channel = self._start()
        # generous: the cycle's own deadline reports a slow answer long before this
        limit = 2 * self.config.timeout + self.config.kafka.request_timeout_seconds + 30
        # the cycle's deadline for the worker, on the machine-wide monotonic clock
        margin = deadline_margin(self.config.timeout)
        deadline = started + self.config.timeout - margin
        self._seq += 1
        self._block_due = None
        partial: ClusterState | None = None
        try:
            # a retry must end by the cycle's deadline; a first attempt counts its budget from when
            # the worker gets the request (a worker just started would otherwise lose its start-up)
            channel.send({"kind": "collect", "seq": self._seq, "deadline": None if retry else deadline})
            kind, value = self._receive(channel, ("partial", "ok", "error"), limit)
            if kind == "partial":
                partial = value
                # the rest is due by the cycle's deadline; past it, the partial state is the answer
                cut = started + self.config.timeout - min(0.3, margin / 2)
                kind, value = self._receive(channel, ("tail", "error"), max(0.0, cut - time.monotonic()))
                if kind == "tail":  # the partial state, completed
                    tail: StateTail = value
                    kind, value, partial = "ok", tail.apply(partial), None
        except TimeoutError:
            if partial is not None:  # still working on the groups: its late answer will be skipped
                return self._partial(partial, "did not finish by the cycle's deadline")
            self._discard()
            raise SourceError(f"Admin-API worker did not answer within {limit:g} s; it was restarted") from None
        except (EOFError, OSError, BrokenPipeError):
            code = self._process.exitcode if self._process is not None else None
            if self._process is not None:
                self._process.join(1)
                code = self._process.exitcode
            self._discard()
            causes = {-11: "a crash inside librdkafka (SIGSEGV)", -6: "an abort inside librdkafka (SIGABRT)"}
            cause = causes.get(code, f"exit status {code}") if code is not None else "exit status None"
            if partial is not None:
                return self._partial(partial, f"process died ({cause}) during the groups' requests; it restarts next cycle")
            if retry and deadline - time.monotonic() > max(2.0, 0.4 * self.config.timeout):
                # librdkafka aborts asynchronously too (a timed-out request of the last cycle
                # meeting a broker's state change): a fresh worker usually has time for this cycle
                log.warning("Admin-API worker process died (%s) early in the cycle; retrying in a fresh one", cause)
                return self._collect(started, retry=False)
            raise SourceError(f"Admin-API worker process died ({cause}); it restarts next cycle") from None
        if kind == "ok":
            self._block_due = self._seq
            state: ClusterState = value
            self._note_churn(state)
            return state
        raise SourceError(str(value))

    @staticmethod
    def _partial(state: ClusterState, why: str) -> ClusterState:
        """The state sent ahead of the groups' requests, as this cycle's answer."""
        log.warning("the Admin-API worker %s: using what it collected before the consumer groups", why)
        state.errors.append(f"Admin-API worker {why}: consumer groups and whatever was still pending are missing this cycle")
        return state

    def _receive(self, channel: Channel, kinds: tuple[str, ...], limit: float) -> tuple[str, Any]:
        """The next message of this cycle of one of ``kinds`` (its unpickled body, or its
        error message); older cycles' are skipped."""
        deadline = time.monotonic() + limit
        while True:
            if not channel.poll(deadline - time.monotonic()):
                raise TimeoutError
            meta, body = channel.recv()
            kind = meta.get("kind")
            if meta.get("seq") == self._seq and kind in kinds:
                if kind == "block":  # rendered text as the body (see _serve)
                    return kind, RenderedBlock(body, int(meta["series"]), tuple(meta["names"]), dict(meta["dropped"]))
                return kind, (meta["message"] if "message" in meta else unpickle(body))

    def block(self, timeout: float) -> RenderedBlock | None:
        """The Admin-API families of the state :meth:`collect` returned, rendered by the
        worker; None if they cannot come (the caller renders them itself)."""
        with self._lock:
            channel, due = self._channel, self._block_due
            self._block_due = None
            if channel is None or due is None or due != self._seq:
                return None
            try:
                kind, value = self._receive(channel, ("block", "block-error"), timeout)
            except (TimeoutError, EOFError, OSError):
                log.warning("the Admin-API worker did not send its rendered families in time; rendering them here")
                return None
            if kind == "block":
                block: RenderedBlock = value
                return block
            log.warning("the Admin-API worker could not render its families (%s); rendering them here", value)
            return None

    def _discard(self) -> None:
        if self._channel is not None:
            self._channel.close()
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        self._process = self._channel = None

    def close(self) -> None:
        with self._lock:
            self._retire()


def main(argv: list[str]) -> None:
    """``python -m exporter.sources.admin.worker FD``: serve the parent on that descriptor."""
    channel = Channel.from_fd(int(argv[1]))
    try:
        start, body = channel.recv()
    except (EOFError, OSError):
        return
    _serve(channel, unpickle(body), int(start["level"]))


if __name__ == "__main__":
    main(sys.argv)

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
worker that dies before is replaced and asked again when enough of the cycle is left, and
one whose requests timed out is replaced after its cycle (:meth:`AdminWorker._recycle_if_due`).
It also keeps confluent-kafka's long GIL holds while building big results out of the process
that serves ``/metrics``.

Every cycle's answer is due by the cycle's deadline, however the worker fares: a worker is
sent the cycle's deadline (a fresh one too), the parent waits for it no longer than that, and a
worker that died is replaced at once (in a cycle or between two), so that the next cycle does not wait for a new
interpreter's start-up (~1 s of imports on a quiet 2-core machine, several under load).  In CI
a cycle that started a fresh worker itself overran the 5 s cycle timeout right after a broker
was killed (librdkafka had crashed the old one), and the Admin-API source was reported down.
A worker that sends nothing at all for ``2 * timeout + request_timeout + 30`` s is replaced.

Protocol, in :mod:`exporter.ipc` frames (``{JSON} + body``): the parent starts with
``{"kind": "start", "level": L}`` + the pickled Config, then sends ``{"kind": "collect",
"seq": n, "deadline": d}`` (``time.monotonic()``, one clock for the machine's processes); the
worker answers ``{"kind": "partial", "seq": n}`` + the state before the groups once, then
``{"kind": "tail", "seq": n, "timed_out": b}`` + the pickled :class:`~.records.StateTail` (what changed since:
the parent applies it to the partial state it unpickled while the groups were read), or
``{"kind": "ok", "seq": n, "timed_out": b}`` + the whole pickled ClusterState when nothing was sent ahead, or
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
import os
import sys
import threading
import time
from collections.abc import Callable
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
        if deadline is not None and deadline <= time.monotonic():
            # the parent gave up on that cycle (this worker started, or finished the last one,
            # too late): a collection with no time left would only count as a failed one
            try:
                channel.send({"kind": "error", "seq": seq, "message": "the cycle's deadline passed before the worker got to it"})
            except (OSError, ValueError):
                return
            continue
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
                # requests that timed out: the parent replaces this worker once its block is in
                timed_out = collector.timed_out
                if sent_ahead:  # the parent has the rest: only what changed since (see StateTail)
                    channel.send_object({"kind": "tail", "seq": seq, "timed_out": timed_out}, StateTail.of(state, collector.reread))
                else:
                    channel.send_object({"kind": "ok", "seq": seq, "timed_out": timed_out}, state)
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
    #: the module the worker process runs (tests start one that is slow to start)
    module = __name__

    def __init__(self, config: Config) -> None:
        self.config = config
        self._process: ChildProcess | None = None
        self._channel: Channel | None = None
        self._lock = threading.Lock()
        self._seq = 0
        #: the last request got no final answer (ok, tail or error) yet
        self._pending = False
        #: when the worker last sent anything (or was started)
        self._heard = 0.0
        #: the worker sent anything since it was started
        self._spoke = False
        #: the cycle whose rendered block is still to be read (None: none is coming)
        self._block_due: int | None = None
        #: partitions per topic name this worker has seen (see _note_churn)
        self._seen: dict[str, int] = {}
        self._renew_due = False
        #: the worker's requests timed out in the cycle just answered: replace it after its block
        self._recycle_due = False

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
            process = ChildProcess(self.module, [theirs.fileno()])
        except BaseException:
            channel.close()
            raise
        finally:
            theirs.close()
        self._process, self._channel = process, channel
        self._pending, self._heard, self._spoke = False, time.monotonic(), False
        channel.send_object({"kind": "start", "level": logging.getLogger().getEffectiveLevel()}, self.config)
        if hasattr(os, "waitid"):  # Linux (the exporter's platform); elsewhere the next cycle starts one
            threading.Thread(target=self._watch, args=(process,), name="admin-worker-watch", daemon=True).start()
        return channel

    def _watch(self, process: ChildProcess) -> None:
        """Replace the worker as soon as its process dies between cycles (librdkafka also aborts
        asynchronously, as a request of the last cycle times out): the next cycle then finds a
        worker started, not one to start.  A death in a cycle is the cycle's to handle (it holds
        the lock, and has replaced the process by the time this gets it).  A worker that died
        before it answered anything (one that cannot start) is left to the next cycle, so that
        it is not restarted in a loop."""
        try:  # WNOWAIT: the process stays for ChildProcess to reap (its exit status)
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        except OSError:  # reaped already (discarded)
            return
        with self._lock:
            if self._process is process and self._spoke:
                log.warning("the Admin-API worker process died between cycles (%s); starting a new one", _cause(process.exitcode))
                self._replace()

    def _replace(self) -> None:
        """A fresh worker right away (the one here died): it starts while the collector waits
        for the next cycle, not in it."""
        self._discard()
        try:
            self._start()
        except OSError as exc:  # no process to be had now: the next cycle tries again
            log.warning("cannot start a new Admin-API worker process now: %s", exc)

    def collect(self, ahead: Callable[[ClusterState], None] | None = None) -> ClusterState:
        """This cycle's state.  ``ahead`` is called with the state the worker sent ahead of the
        groups' requests as soon as it is in (once, on this thread); that state is not changed
        afterwards (the final one is a new object, see StateTail.apply)."""
        started = time.monotonic()
        with self._lock:
            if self._renew_due:
                self._renew_due = False
                self._retire()
            self._recycle_if_due()  # the last cycle's block was not asked for
            return self._collect(started, retry=True, ahead=ahead)

    def _collect(self, started: float, retry: bool, ahead: Callable[[ClusterState], None] | None = None) -> ClusterState:
        # generous: a worker busy past the cycle's deadline (a librdkafka call that does not
        # return) is waited for across cycles this long before it is given up
        limit = 2 * self.config.timeout + self.config.kafka.request_timeout_seconds + 30
        channel = self._channel
        if channel is None or self._process is None or not self._process.is_alive():
            self._discard()
            channel = self._start()
        elif self._pending and time.monotonic() - self._heard > limit:
            log.warning("the Admin-API worker sent nothing for %.0f s; replacing it", time.monotonic() - self._heard)
            self._discard()
            channel = self._start()
        # the cycle's deadline for the worker, on the machine-wide monotonic clock
        margin = deadline_margin(self.config.timeout)
        deadline = started + self.config.timeout - margin
        # the parent's own: its answer is due back in the cycle by started + timeout
        cut = started + self.config.timeout - min(0.3, margin / 2)
        self._seq += 1
        self._block_due = None
        partial: ClusterState | None = None
        try:
            # the cycle's deadline, for a worker just started too: it may lose its start-up
            # (rarely: a worker that died is replaced at once, see _replace), but it never
            # answers after the cycle gave up on it
            channel.send({"kind": "collect", "seq": self._seq, "deadline": deadline})
            self._pending = True
            kind, value = self._receive(channel, ("partial", "ok", "error"), max(0.0, cut - time.monotonic()))
            if kind == "partial":
                partial = value
                if ahead is not None:
                    try:
                        ahead(partial)
                    except Exception:
                        log.exception("handing the state sent ahead to the collector failed")
                # the rest is due by the cycle's deadline; past it, the partial state is the answer
                kind, value = self._receive(channel, ("tail", "error"), max(0.0, cut - time.monotonic()))
                if kind == "tail":  # the partial state, completed
                    tail: StateTail = value
                    kind, value, partial = "ok", tail.apply(partial), None
        except TimeoutError:
            if partial is not None:  # still working on the groups: its late answer will be skipped
                return self._partial(partial, "did not finish by the cycle's deadline")
            # kept: a worker still starting (or busy with a late cycle) answers the next cycle
            why = "busy" if self._spoke else "still starting"
            raise SourceError(f"Admin-API worker sent nothing by the cycle's deadline ({why}); it is asked again next cycle") from None
        except (EOFError, OSError, BrokenPipeError):
            code = self._process.exitcode if self._process is not None else None
            if self._process is not None:
                self._process.join(1)
                code = self._process.exitcode
            cause = _cause(code)
            if retry and partial is None and deadline - time.monotonic() > max(2.0, 0.4 * self.config.timeout):
                # librdkafka aborts asynchronously too (a timed-out request of the last cycle
                # meeting a broker's state change): a fresh worker usually has time for this cycle
                log.warning("Admin-API worker process died (%s) early in the cycle; retrying in a fresh one", cause)
                self._discard()
                return self._collect(started, retry=False, ahead=ahead)
            self._replace()  # the next cycle's worker starts now
            if partial is not None:
                return self._partial(partial, f"process died ({cause}) during the groups' requests; a new one is starting")
            raise SourceError(f"Admin-API worker process died ({cause}); a new one is starting") from None
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
            self._heard, self._spoke = time.monotonic(), True
            kind = meta.get("kind")
            if meta.get("seq") == self._seq and kind in ("ok", "tail", "error"):
                self._pending = False
                self._recycle_due = bool(meta.get("timed_out"))
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
            finally:
                self._recycle_if_due()
            if kind == "block":
                block: RenderedBlock = value
                return block
            log.warning("the Admin-API worker could not render its families (%s); rendering them here", value)
            return None

    def _recycle_if_due(self) -> None:
        """Replace a worker whose requests timed out, once it has answered its cycle.

        librdkafka keeps a request that timed out for the caller in its queues, and aborts the
        whole process later when such a request meets a broker's state change
        (``rd_kafka_enq_once_del_source_return: Assertion eonce->refcnt > 0``).  In CI that
        abort came in the cycle after a broker was killed, before the worker had sent anything
        ahead, too late in the cycle for a retry: the Admin-API source was down for that cycle.
        A fresh process holds none of those requests; it is started now, between cycles, so
        its start-up (~1 s) is not the next cycle's.  A cycle whose requests all failed (no
        broker answers) does not replace it: the Admin client is created anew in the process
        after ``kafka.recreate_client_after_failures`` such cycles, without a start-up each."""
        if self._recycle_due:
            self._recycle_due = False
            log.info("requests of the Admin-API worker timed out this cycle: replacing it with a fresh process")
            self._replace()

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


def _cause(code: int | None) -> str:
    """Why a worker process ended, from its exit code."""
    causes = {-11: "a crash inside librdkafka (SIGSEGV)", -6: "an abort inside librdkafka (SIGABRT)"}
    return causes.get(code, f"exit status {code}") if code is not None else "exit status None"


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

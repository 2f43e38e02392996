"""The collection cycle: sources in parallel with a deadline -> Snapshot -> samples -> bytes."""

from __future__ import annotations

import gc
import logging
import platform
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as wait_futures
from typing import Any

import confluent_kafka

from exporter import __version__, selfmetrics
from exporter.exposition import Exposition, LabelCache, Prerendered, prerender, render
from exporter.heap import trim_heap
from exporter.metrics import Samples
from exporter.snapshot import Interpreter, Snapshot, TargetResult
from exporter.sources.base import Job, Source, SourceError

log = logging.getLogger(__name__)

def _describe(exc: BaseException) -> str:
    if isinstance(exc, SourceError):
        return str(exc)
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}" if not text.startswith(exc.__class__.__name__) else text


class Collector:
    """Runs cycles and owns the current exposition (read by the HTTP server)."""

    def __init__(
        self,
        sources: Sequence[Source],
        interpreters: Sequence[Interpreter] = (),
        *,
        interval: float = 30.0,
        timeout: float = 20.0,
        max_workers: int = 32,
    ) -> None:
        self.sources = list(sources)
        self.interpreters = list(interpreters)
        self.interval = interval
        self.timeout = timeout
        self._pool = _DaemonPool(max_workers)
        self._inflight: dict[tuple[str, str], tuple[Future[Any], float]] = {}
        self._errors_total: dict[tuple[str, str], int] = {}
        self._dropped_total: dict[str, int] = {}
        self._last_error: dict[tuple[str, str], str | None] = {}
        self._last_partial: dict[tuple[str, str], tuple[str, ...]] = {}
        self._cycles = 0
        self._last_render = 0.0
        self._last_series = 0
        self.snapshot: Snapshot | None = None
        self.exposition: Exposition = render(Samples())
        self.ready = threading.Event()
        #: keep the plain text of the exposition besides its gzip copy (False: the text is
        #: inflated from the gzip copy when asked; see exporter.serving)
        self.keep_body = True
        #: called with the collector after each cycle's exposition is in place (must not block)
        self.on_cycle: list[Callable[[Collector], None]] = []
        #: the label text of the families rendered here, kept between cycles (see LabelCache)
        self._labels = LabelCache()
        #: the families prepared this cycle, rendered while the consumer groups were read
        self._prerendered: Prerendered = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one cycle -------------------------------------------------------------------
    def collect_once(self) -> Snapshot:
        # No cyclic GC during a cycle: a cycle allocates ~1M tracked objects (futures,
        # records, samples) and CPython ran ~6 full collections per cycle at 10k partitions /
        # 500 groups: 0.6 s of the collector's 1.4 s CPU, pauses of up to 155 ms that
        # stalled /metrics (benchmarks/bench.py).  Almost everything is freed by reference
        # counting; the rest is collected by the automatic GC once the cycle is over.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._collect_once()
        finally:
            if enabled:
                gc.enable()
            trim_heap()

    def _collect_once(self) -> Snapshot:
        started = time.time()
        self._prerendered = {}
        jobs: list[Job] = []
        for source in self.sources:
            try:
                jobs.extend(source.jobs(self.snapshot))
            except Exception as exc:  # a broken source must not break the cycle
                jobs.append(Job(source.name, "-", _raiser(exc)))
        snapshot = Snapshot.of(started, self._run_jobs(jobs, started))
        for result in snapshot.results:
            self._note(result)
        out = Samples()
        for source in self.sources:
            self._guarded(f"emit {source.name}", source.emit, snapshot, out)
        for interpreter in self.interpreters:
            name = getattr(interpreter, "__name__", interpreter.__class__.__name__)
            self._guarded(f"interpret {name}", interpreter, snapshot, out)
        # blocks rendered elsewhere (the Admin-API worker) were made while we interpreted
        self._guarded("resolve rendered blocks", lambda _snapshot, samples: samples.resolve_blocks(), snapshot, out)
        snapshot.finished = time.time()
        self._cycles += 1
        self._self_metrics(snapshot, out)
        t0 = time.perf_counter()
        prerendered, self._prerendered = self._prerendered, {}
        exposition = render(out, keep_body=self.keep_body, cache=self._labels, prerendered=prerendered)
        del prerendered
        self._last_render = time.perf_counter() - t0
        self._last_series = out.series_count()
        # between cycles only the HTTP side reads the published snapshot (status, findings):
        # the cluster state and the derived records (~100 MB at 50k partitions / 5k groups)
        # live on only in the snapshot returned to the caller, and so never beside the next
        # cycle's (the sources learn what they need of them in emit, e.g. the JMX brokers)
        self.snapshot = snapshot.slim()
        self.exposition = exposition  # one reference swap: scrapes never see half a cycle
        self.ready.set()
        for listener in self.on_cycle:
            try:
                listener(self)
            except Exception:
                log.exception("a cycle listener failed")
        return snapshot

    def _guarded(self, what: str, fn: Callable[[Snapshot, Samples], None], snapshot: Snapshot, out: Samples) -> None:
        try:
            fn(snapshot, out)
        except Exception:
            log.exception("%s failed; its metrics are missing this cycle", what)
            key = ("exporter", what)
            self._errors_total[key] = self._errors_total.get(key, 0) + 1

    def _run_jobs(self, jobs: list[Job], started: float) -> list[TargetResult]:
        deadline = time.monotonic() + self.timeout
        futures: dict[Job, tuple[Future[Any], float]] = {}
        results: list[TargetResult] = []
        for job in jobs:
            key = (job.source, job.target)
            pending = self._inflight.get(key)
            if pending is not None and not pending[0].done():
                # a call from an earlier cycle still hangs: do not pile up more threads
                results.append(
                    TargetResult(
                        job.source,
                        job.target,
                        False,
                        time.monotonic() - pending[1],
                        error=f"still hanging since an earlier cycle (> {self.timeout:g} s)",
                        errors=1,
                    )
                )
                continue
            start = time.monotonic()
            future = self._pool.submit(job.run)
            self._inflight[key] = (future, start)
            futures[job] = (future, start)
        self._prepare(futures, deadline, started)
        wait_futures([f for f, _ in futures.values()], timeout=max(0.0, deadline - time.monotonic()))
        for job, (future, start) in futures.items():
            if future.done():
                self._inflight.pop((job.source, job.target), None)
            results.append(self._result(job, future, start))
        return results

    def _result(self, job: Job, future: Future[Any], start: float) -> TargetResult:
        if not future.done():
            return TargetResult(job.source, job.target, False, time.monotonic() - start, error=f"timed out after {self.timeout:g} s", errors=1)
        duration = time.monotonic() - start
        exc = future.exception()
        if exc is not None:
            return TargetResult(job.source, job.target, False, duration, error=_describe(exc), errors=1)
        payload = future.result()
        partial = len(getattr(payload, "errors", []) or [])
        return TargetResult(job.source, job.target, True, duration, payload, errors=partial)

    def _prepare(self, futures: dict[Job, tuple[Future[Any], float]], deadline: float, started: float) -> None:
        """Interpret what a job offers ahead while it goes on (the Admin-API source offers
        the cluster state as it was before the consumer groups' requests: the collector's
        process has nothing else to do while the groups are read, ~1 s at 10k partitions).

        Once every job that offers nothing is done and the offering jobs' states are in, the
        interpreters that can (a ``prepare(snapshot, samples)`` method) work on a snapshot of
        those; each decides when the cycle's snapshot comes whether what it prepared still
        holds (the same inputs) or is done again.  Nothing is prepared when an offering job
        ends first, or when other jobs are still running at the deadline."""
        preparers = [p for i in self.interpreters if (p := getattr(i, "prepare", None)) is not None]
        offering = [(job, future) for job, (future, _) in futures.items() if job.ahead is not None]
        if not preparers or not offering:
            return
        others = [future for job, (future, _) in futures.items() if job.ahead is None]
        wait_futures(others, timeout=max(0.0, deadline - time.monotonic()))
        for job, future in offering:
            assert job.ahead is not None
            wait_futures([job.ahead, future], timeout=max(0.0, deadline - time.monotonic()), return_when=FIRST_COMPLETED)
        ahead = [(job, job.ahead.result()) for job, future in offering if job.ahead is not None and job.ahead.done() and not future.done()]
        if not all(f.done() for f in others) or not ahead or any(payload is None for _, payload in ahead):
            return
        results = [self._result(job, future, start) for job, (future, start) in futures.items() if job.ahead is None]
        results += [TargetResult(job.source, job.target, True, 0.0, payload) for job, payload in ahead]
        snapshot = Snapshot.of(started, results)
        out = Samples()
        for prepare in preparers:
            self._guarded(f"prepare {getattr(prepare, '__qualname__', prepare)}", prepare, snapshot, out)
        # their text too, while there is time: render uses it for every family whose rows the
        # cycle's end takes over unchanged (what was prepared and still holds)
        try:
            self._prerendered = prerender(out, self._labels)
        except Exception:
            log.exception("rendering the prepared families failed; they are rendered at the cycle's end")

    def _note(self, result: TargetResult) -> None:
        key = (result.source, result.target)
        self._errors_total[key] = self._errors_total.get(key, 0) + result.errors
        previous = self._last_error.get(key)
        # once per outage: the reason when a target goes down, a line when it recovers; a
        # reason that changes while it stays down (timed out -> still hanging) only at debug
        if result.error and not previous:
            log.warning("source %s target %s is down: %s", result.source, result.target, result.error)
        elif result.error and result.error != previous:
            log.debug("source %s target %s still down: %s", result.source, result.target, result.error)
        elif not result.error and previous:
            log.info("source %s target %s recovered", result.source, result.target)
        self._last_error[key] = result.error
        details = tuple(getattr(result.payload, "errors", []) or [])
        if details != self._last_partial.get(key, ()):
            for detail in details:
                log.warning("source %s target %s: %s", result.source, result.target, detail)
        self._last_partial[key] = details

    def _self_metrics(self, snapshot: Snapshot, out: Samples) -> None:
        sm = selfmetrics
        for r in snapshot.results:
            out.add(sm.SOURCE_UP, 1 if r.up else 0, r.source, r.target)
            out.add(sm.SOURCE_DURATION, r.duration, r.source, r.target)
            out.add(sm.SOURCE_ERRORS, r.errors, r.source, r.target)
        for (source, target), count in sorted(self._errors_total.items()):
            out.add(sm.SOURCE_ERRORS_TOTAL, count, source, target)
        for source, count in out.dropped.items():
            self._dropped_total[source] = self._dropped_total.get(source, 0) + count
        for source, count in sorted(self._dropped_total.items()):
            out.add(sm.DROPPED_VALUES_TOTAL, count, source or "unknown")
        out.add(sm.LAST_COLLECTION, snapshot.finished)
        out.add(sm.COLLECTION_DURATION, snapshot.finished - snapshot.started)
        out.add(sm.COLLECTION_INTERVAL, self.interval)
        out.add(sm.COLLECTIONS_TOTAL, self._cycles)
        out.add(sm.RENDER_DURATION, self._last_render)
        out.add(sm.EXPOSED_SERIES, self._last_series)
        out.add(
            sm.BUILD_INFO,
            1,
            __version__,
            platform.python_version(),
            confluent_kafka.version()[0],
            confluent_kafka.libversion()[0],
        )

    # -- background loop ---------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="collector", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            began = time.monotonic()
            try:
                snap = self.collect_once()
                log.debug("cycle done in %.3f s", snap.finished - snap.started)
                del snap  # not kept while waiting for the next cycle (see _collect_once)
                # collect_once trimmed the heap while its caller still held the cycle's state:
                # what freeing it gave back (~100 MB at 50k partitions) would stay mapped
                # until the next cycle's trim
                trim_heap()
            except Exception:
                if self._stop.is_set():  # the sources were closed under it by stop()
                    break
                log.exception("collection cycle failed; keeping the previous exposition")
            self._stop.wait(max(0.5, self.interval - (time.monotonic() - began)))

    #: how long stop() lets a running cycle finish before closing the sources under it:
    #: well inside ``docker stop``'s 10 s grace; the cycle's result would be thrown away
    STOP_GRACE_SECONDS = 2.0

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.STOP_GRACE_SECONDS)
        for source in self.sources:
            try:
                source.close()
            except Exception:
                log.exception("closing source %s failed", source.name)
        self._pool.shutdown()

    def status(self) -> list[TargetResult]:
        return list(self.snapshot.results) if self.snapshot else []


class _DaemonPool:
    """Runs each job on its own daemon thread, at most ``max_workers`` at a time.

    Not a ThreadPoolExecutor: its worker threads are joined at interpreter exit, so one
    job hanging forever (a JMX target that accepts connections and never answers) kept the
    process from exiting after SIGTERM.  Threads cannot pile up: the cycle never starts a
    job for a target whose previous job still runs, so at most one thread per target hangs.
    """

    def __init__(self, max_workers: int) -> None:
        self._slots = threading.BoundedSemaphore(max_workers)
        self._closed = threading.Event()

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()

        def run() -> None:
            with self._slots:
                if self._closed.is_set() or not future.set_running_or_notify_cancel():
                    return
                try:
                    result = fn()
                except BaseException as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)

        threading.Thread(target=run, name="source", daemon=True).start()
        return future

    def shutdown(self) -> None:
        self._closed.set()


def _raiser(exc: Exception) -> Callable[[], Any]:
    def run() -> Any:
        raise exc

    return run

"""The Admin-API worker process, started slowly: it sleeps ``KAFKA_INSIGHT_TEST_WORKER_DELAY``
seconds before it serves, as a new interpreter's imports take on a loaded machine (~1 s on a
quiet 2-core one, several under CI's load).  Run by ``SlowStartWorker`` in the tests.

``KAFKA_INSIGHT_TEST_WORKER_PAUSE=PID:N``: in its N-th collection the worker stops process PID
(SIGSTOP: the broker, Tansu) once it has sent its state ahead, and lets it go on (SIGCONT) when
the collection is over, so that the consumer groups' requests really time out in librdkafka.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from exporter.sources.admin import worker
from exporter.sources.admin.client import AdminCollector


def pause_in(pid: int, nth: int) -> None:
    real = AdminCollector.collect
    count = 0

    def collect(self: AdminCollector, checkpoint: Callable[[Any], None] | None = None, deadline: float | None = None) -> Any:
        nonlocal count
        count += 1
        if count != nth or checkpoint is None:
            return real(self, checkpoint, deadline)
        given: Callable[[Any], None] = checkpoint

        def then_pause(partial: Any) -> None:
            given(partial)
            os.kill(pid, signal.SIGSTOP)

        try:
            return real(self, then_pause, deadline)
        finally:
            os.kill(pid, signal.SIGCONT)

    AdminCollector.collect = collect  # type: ignore[method-assign]


if __name__ == "__main__":
    time.sleep(float(os.environ.get("KAFKA_INSIGHT_TEST_WORKER_DELAY", "0")))
    pause = os.environ.get("KAFKA_INSIGHT_TEST_WORKER_PAUSE")
    if pause:
        pid, nth = pause.split(":")
        pause_in(int(pid), int(nth))
    worker.main(sys.argv)

"""The Admin-API worker process, started slowly: it sleeps ``KAFKA_INSIGHT_TEST_WORKER_DELAY``
seconds before it serves, as a new interpreter's imports take on a loaded machine (~1 s on a
quiet 2-core one, several under CI's load).  Run by ``SlowStartWorker`` in the tests."""

from __future__ import annotations

import os
import sys
import time

from exporter.sources.admin import worker

if __name__ == "__main__":
    time.sleep(float(os.environ.get("KAFKA_INSIGHT_TEST_WORKER_DELAY", "0")))
    worker.main(sys.argv)

"""Run only the demo's synthetic traffic (with statistics forwarding) against a broker.

    python -m exporter.demo.run_traffic HOST:PORT

Used by tests that want the demo's clients in a process of their own: librdkafka clients
and their threads then live and die apart from the test process. Stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import signal
import sys
import threading

from exporter.demo.client_stats import DemoClientStats
from exporter.demo.traffic import Traffic


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m exporter.demo.run_traffic HOST:PORT", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    client_stats = DemoClientStats(args[0])  # installs the statistics hook before any client starts
    traffic = Traffic(args[0])
    traffic.start()
    client_stats.start_ledger()
    print("traffic running", flush=True)
    stop.wait()
    traffic.stop()
    client_stats.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

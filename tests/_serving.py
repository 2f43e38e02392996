"""The tests' way to serve a collector over HTTP: the production path (exporter.serving)."""

from __future__ import annotations

from exporter.cycle import Collector
from exporter.serving import IsolatedServer


def serve(
    collector: Collector, host: str = "127.0.0.1", port: int = 0, *, web_config_file: str = "", probes_without_auth: bool = False
) -> IsolatedServer:
    """The serving process for ``collector``, as the command line starts it."""
    return IsolatedServer(collector, host, port, web_config_file=web_config_file, probes_without_auth=probes_without_auth)


def published(server: IsolatedServer, timeout: float = 30.0) -> None:
    """Wait until the serving process serves the collector's current exposition."""
    assert server.wait_current(timeout), "the serving process did not take the current exposition"

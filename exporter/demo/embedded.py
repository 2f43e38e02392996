"""The embedded demo as one object: the broker, its traffic and client statistics, and the config pointed at it."""

from __future__ import annotations

import dataclasses
import logging

from exporter.config import Config
from exporter.demo.broker import TansuBroker
from exporter.demo.client_stats import DemoClientStats
from exporter.demo.traffic import Traffic

log = logging.getLogger(__name__)


class Demo:
    def __init__(self) -> None:
        self.broker = TansuBroker()
        self.traffic: Traffic | None = None
        self.client_stats: DemoClientStats | None = None

    def start(self) -> None:
        self.broker.start()
        log.info("embedded Tansu broker on %s (demo mode: no kafka.bootstrap_servers configured)", self.broker.bootstrap)
        self.traffic = Traffic(self.broker.bootstrap)
        # every demo client forwards its librdkafka statistics (issue 6)
        self.client_stats = DemoClientStats(self.broker.bootstrap)
        self.traffic.start()
        self.client_stats.start_ledger()

    def configure(self, cfg: Config) -> Config:
        # the demo's numbers move quickly: collect more often than the production default
        interval = min(cfg.interval, 5.0)
        return dataclasses.replace(
            cfg,
            kafka=dataclasses.replace(cfg.kafka, bootstrap_servers=[self.broker.bootstrap]),
            collection=dataclasses.replace(cfg.collection, interval_seconds=interval, timeout_seconds=min(cfg.timeout, interval)),
            client_stats=dataclasses.replace(cfg.client_stats, enabled=True),
        )

    def stop(self) -> None:
        if self.traffic is not None:
            self.traffic.stop()
        if self.client_stats is not None:
            self.client_stats.stop()
        self.broker.stop()

"""Command line: Prometheus-style flags, each with an environment variable."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from typing import Any

from exporter import __version__, config, webconfig

PROG = "kafka-insight-exporter"

#: flag -> (dotted config path, environment variable, help)
FLAGS: dict[str, tuple[str, str, str]] = {
    "--web.listen-address": (
        "web.listen_address",
        "KAFKA_INSIGHT_WEB_LISTEN_ADDRESS",
        "address to serve /metrics on (default :9741)",
    ),
    "--web.config.file": (
        "web.config_file",
        "KAFKA_INSIGHT_WEB_CONFIG_FILE",
        "exporter-toolkit web config file: TLS and basic auth for every endpoint",
    ),
    "--kafka.bootstrap-servers": (
        "kafka.bootstrap_servers",
        "KAFKA_INSIGHT_BOOTSTRAP_SERVERS",
        "comma-separated host:port list; none = embedded demo broker",
    ),
    "--log.level": ("log.level", "KAFKA_INSIGHT_LOG_LEVEL", "debug, info, warning or error"),
    "--collection.interval": (
        "collection.interval_seconds",
        "KAFKA_INSIGHT_COLLECTION_INTERVAL",
        "seconds between collection cycles (default 30)",
    ),
    "--interpretation.group-status-window": (
        "interpretation.group_status_window_seconds",
        "KAFKA_INSIGHT_GROUP_STATUS_WINDOW",
        "seconds of commit history consumer group status is judged over (default 600)",
    ),
    "--series-budget.group-partitions": (
        "series_budget.group_partitions",
        "KAFKA_INSIGHT_SERIES_BUDGET_GROUP_PARTITIONS",
        "group x partition pairs exposed in full, the rest summed per group x topic (default 100000; 0: no limit)",
    ),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Prometheus exporter that says what Kafka's numbers mean.")
    p.add_argument(
        "--config.file",
        dest="config_file",
        default=os.environ.get("KAFKA_INSIGHT_CONFIG_FILE"),
        help="YAML configuration file (env KAFKA_INSIGHT_CONFIG_FILE)",
    )
    for flag, (_, env, text) in FLAGS.items():
        p.add_argument(flag, dest=flag, default=None, help=f"{text} (env {env})")
    p.add_argument("--check-config", action="store_true", help="validate the configuration and exit")
    p.add_argument("--print-config-reference", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return p


def overrides(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for flag, (path, env, _) in FLAGS.items():
        value = getattr(args, flag)
        if value is None:
            value = environ.get(env)
        if value is not None:
            result[path] = value
    return result


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.print_config_reference:
        print("\n".join(config.reference()))
        return 0
    try:
        cfg = config.load(args.config_file, overrides(args, dict(os.environ)))
        web = webconfig.load(cfg.web.config_file)
    except config.ConfigError as exc:
        print(f"{PROG}: config error: {exc}", file=sys.stderr)
        return 2
    if args.check_config:
        print(f"{PROG}: configuration OK")
        return 0
    logging.basicConfig(level=cfg.log.level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("librdkafka").setLevel(logging.ERROR if cfg.log.level != "debug" else logging.DEBUG)
    return run(cfg, web)


def run(cfg: config.Config, web: webconfig.WebConfig | None = None) -> int:
    from exporter.app import build_collector
    from exporter.serving import IsolatedServer

    log = logging.getLogger(PROG)
    stop = threading.Event()
    demo = None
    if cfg.demo:
        from exporter.demo.embedded import Demo

        demo = Demo()
        try:
            demo.start()
        except Exception as exc:
            log.error("cannot start the embedded demo broker: %s", exc)
            demo.stop()
            return 1
        cfg = demo.configure(cfg)
    collector = build_collector(cfg)
    try:
        # /metrics is served by a process of its own (exporter/serving.py): a scrape
        # never waits for the GIL of a running collection
        server = IsolatedServer(
            collector,
            cfg.web.host,
            cfg.web.port,
            "Demo mode: embedded Tansu broker." if demo else "",
            cfg.web.config_file,
            cfg.web.probes_without_auth,
        )
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", cfg.web.host, cfg.web.port, exc.strerror or exc)
        collector.stop()
        if demo:
            demo.stop()
        return 1
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    collector.start()
    host = "localhost" if cfg.web.host in ("0.0.0.0", "", "::") else cfg.web.host
    scheme = web.scheme if web else "http"
    log.info(
        "serving %s://%s:%d/metrics%s (collecting from %s every %g s)",
        scheme,
        host,
        server.server_address[1],
        " with basic auth" if web and web.auth else "",
        ",".join(cfg.bootstrap_servers),
        cfg.interval,
    )
    if demo:
        print(f"\n  Demo running: open {scheme}://{host}:{server.server_address[1]}/ (Ctrl-C stops it)\n", flush=True)
    stop.wait()
    log.info("shutting down")
    server.shutdown()
    collector.stop()
    if demo:
        demo.stop()
    return 0

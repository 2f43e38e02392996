"""The catalogue against what the exporter really exposes, and the generated docs (docs/metrics.md, docs/configuration.md)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator

import pytest

from exporter import config, docs
from exporter.app import build_collector
from exporter.catalogue import all_specs
from exporter.demo.embedded import Demo
from tests._exposition import Parsed


@pytest.fixture(scope="module")
def demo_exposition() -> Iterator[bytes]:
    """A full exposition of the embedded demo: Tansu, synthetic traffic, every configured source."""
    demo = Demo()
    demo.start()
    try:
        cfg = demo.configure(config.load(None))
        collector = build_collector(cfg)
        try:
            deadline = time.monotonic() + 40
            while True:
                collector.collect_once()
                m = Parsed(collector.exposition.body)
                lagging = m.value("kafka_insight_consumer_group_lag", group="analytics") or 0
                stable = m.value("kafka_insight_consumer_group_state", group="billing", state="STABLE")
                if (lagging > 0 and stable == 1) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            yield collector.exposition.body
        finally:
            collector.stop()
    finally:
        demo.stop()


@pytest.mark.tansu  # the demo
def test_demo_shows_lag_topics_and_groups_in_different_states(demo_exposition: bytes) -> None:
    m = Parsed(demo_exposition)
    assert (m.value("kafka_insight_consumer_group_lag", group="analytics") or 0) > 0
    assert m.value("kafka_insight_consumer_group_state", group="billing", state="STABLE") == 1
    assert m.value("kafka_insight_consumer_group_state", group="replay-after-loss", state="EMPTY") == 1
    topics = {labels["topic"] for labels, _ in m.series("kafka_insight_topic_partitions")}
    assert {"orders", "payments", "clicks-zstd", "logs-gzip", "metrics-lz4", "audit-none"} <= topics
    assert (
        m.value("kafka_insight_consumer_group_committed_offset", group="replay-after-loss", topic="payments", partition=0) == 5000
    )


@pytest.mark.tansu  # the demo
def test_every_exposed_family_is_in_the_catalogue(demo_exposition: bytes) -> None:
    specs = all_specs()
    by_family = {spec.family_name: spec for spec in specs.values()}
    parsed = Parsed(demo_exposition)
    assert parsed.families, "empty exposition"
    for family, (kind, help_text) in parsed.families.items():
        spec = by_family.get(family)
        assert spec is not None, f"{family} is exposed but not in the catalogue"
        assert kind == spec.type and help_text == spec.help, family


@pytest.mark.tansu  # the demo
def test_promtool_is_clean_on_the_full_demo_exposition(demo_exposition: bytes) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    done = subprocess.run([promtool, "check", "metrics"], input=demo_exposition, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (done.stdout + done.stderr).strip() == b"", done.stdout + done.stderr


def test_generated_docs_are_current() -> None:
    assert docs.main(["--check"]) == 0, "docs/metrics.md or docs/configuration.md is stale: run python -m exporter.docs"
    text = docs.METRICS.read_text()
    for name in all_specs():
        assert f"`{name}`" in text, name

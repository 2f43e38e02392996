"""The feature table is the one list: wiring, catalogue and docs derive from it (exporter/features.py)."""

from __future__ import annotations

from pathlib import Path

from exporter import config, features
from exporter.app import build_collector
from exporter.catalogue import EMITTING_MODULES, all_specs
from exporter.metrics import declared_by


def test_every_metric_is_declared_by_a_module_of_the_table() -> None:
    specs = all_specs()
    assert len(specs) > 100
    outside = {name: declared_by(name) for name in specs if features.feature_of_module(declared_by(name)) is None}
    assert not outside, f"modules that declare metrics but have no row in exporter.features.FEATURES: {outside}"


def test_every_spec_module_of_the_table_declares_metrics_and_the_catalogue_lists_them() -> None:
    declaring = {declared_by(name) for name in all_specs()}
    assert set(EMITTING_MODULES) == declaring
    assert len(EMITTING_MODULES) == len(set(EMITTING_MODULES))  # no module in two rows


def test_the_collector_is_built_from_the_table(tmp_path: Path) -> None:
    cfg = config.load(None, {"kafka.bootstrap_servers": "127.0.0.1:9"})
    collector = build_collector(cfg)
    try:
        # jmx and client_stats are not configured: only the Admin-API source
        assert [s.name for s in collector.sources] == ["admin"]
        assert len(collector.interpreters) == sum(len(f.interpreters) for f in features.FEATURES) >= 4
    finally:
        collector.stop()

    jmx = {"kafka.bootstrap_servers": "127.0.0.1:9"}
    path = tmp_path / "jmx.yml"
    path.write_text("jmx:\n  brokers:\n    targets: [127.0.0.1:1]\n  clients:\n    targets: [{address: '127.0.0.1:2', name: app}]\n")
    collector = build_collector(config.load(str(path), jmx))
    try:
        assert [s.name for s in collector.sources] == ["admin", "broker_jmx", "client_jmx"]  # table order
    finally:
        collector.stop()


"""Every derived family: in the catalogue, emitted from the recorded data, promtool-clean, ratios in 0-1."""

from __future__ import annotations

import json
import shutil
import subprocess

from exporter.catalogue import all_specs
from exporter.exposition import render
from exporter.interpret.durability import DurabilityInterpreter, emit_durability, emit_min_isr_rules
from exporter.interpret.history import History
from exporter.interpret.offsets import OffsetSettings, analyse, emit_offsets
from exporter.interpret.producers import emit_producers
from exporter.metrics import Samples
from exporter.sources.jmx.broker_records import parse_broker
from exporter.sources.jmx.client_records import DECLARABLE_SETTINGS, parse_client_target
from exporter.sources.jmx.rows import load_dump
from tests._exposition import Parsed
from tests._fixture_loader import load_metadata
from tests.conftest import FIXTURES

MODULES = ("exporter.interpret.durability", "exporter.interpret.offsets", "exporter.interpret.producers")


def derived_from_fixtures() -> Samples:
    """One exposition of every derived family from the recorded cluster (last state wins)."""
    durability = DurabilityInterpreter()
    history = History()
    settings = OffsetSettings()
    out = Samples()
    brokers = [parse_broker(load_dump(FIXTURES / f"jmx-broker{n}-healthy.json"), f"n{n}", broker_id=n) for n in (1, 2, 3)]
    for i, state_name in enumerate(("healthy", "broker3-down", "broker3-restarted")):
        state = load_metadata(FIXTURES / f"metadata-{state_name}.json", include_internal=True)
        out = Samples()
        emit_durability(durability.analyse(state, brokers), out)
        emit_min_isr_rules(durability.rules, out)
        emit_offsets(analyse(state, history, 1000.0 + 30 * i, settings), history, out)
    clients = []
    for codec in ("none", "gzip", "lz4", "zstd"):
        path = FIXTURES / f"jmx-producer-{codec}.json"
        configured = json.loads(path.read_text())["source"]["configured"]
        declared = {k: v for k, v in configured.items() if k in DECLARABLE_SETTINGS}
        clients.extend(parse_client_target(load_dump(path), f"perf-{codec}", declared=declared).clients)
    emit_producers(brokers, clients, state, out)
    return out


def test_every_derived_family_is_emitted_and_in_the_catalogue() -> None:
    import importlib

    specs = all_specs()
    out = derived_from_fixtures()
    emitted = {spec.name for spec, rows in out if rows}
    assert emitted <= set(specs)
    ours = set()
    for module in MODULES:
        mod = importlib.import_module(module)
        ours |= {v.name for v in vars(mod).values() if getattr(v, "source", None) == "interpret" and hasattr(v, "family_name")}
    assert len(ours) >= 40
    assert ours - emitted == set(), ours - emitted


def test_exposition_is_promtool_clean_and_ratios_are_ratios() -> None:
    body = render(derived_from_fixtures()).body
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is required"
    done = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert done.returncode == 0 and done.stdout.decode() + done.stderr.decode() == "", done
    parsed = Parsed(body)
    ratios = [(name, labels, v) for name, rows in parsed.samples.items() if name.endswith("_ratio") for labels, v in rows]
    assert len(ratios) >= 12
    outside = [r for r in ratios if not 0.0 <= r[2] <= 1.0]
    assert outside == []


def test_ratio_check_would_catch_a_value_outside() -> None:
    """The 0-1 check above is not vacuous: a compression that grew the data is clamped, not 1.2."""
    path = FIXTURES / "jmx-producer-gzip.json"
    (client,) = [c for c in parse_client_target(load_dump(path), "p").clients if c.kind == "producer"]
    assert client.producer is not None
    client.producer.compression_rate_avg = 1.2  # tiny records: gzip headers made batches larger
    client.producer.batch_size_avg = 99999.0  # one record larger than batch.size
    out = Samples()
    emit_producers([], [client], None, out)
    java = {"target": "p", "client_id": "perf-producer-gzip", "client_kind": "java"}
    assert out.get("kafka_insight_producer_compression_savings_ratio", **java) == 0
    assert out.get("kafka_insight_producer_batch_fill_ratio", **java) == 1

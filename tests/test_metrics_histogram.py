"""Histogram families in the catalogue helpers (exporter.metrics) and the exposition."""

from __future__ import annotations

import math

import pytest

from exporter.exposition import render_reference, render_text
from exporter.metrics import MetricSpec, Samples, metric
from exporter.mixin import promql
from exporter.sources.canary.specs import E2E_LATENCY
from tests._exposition import Parsed

#: not declared with metric(): a test spec must not join the catalogue
WAIT = MetricSpec(
    "kafka_insight_test_histogram_wait_seconds",
    "histogram",
    "Test-only histogram of waits, per queue (checks the histogram plumbing).",
    ("queue",),
    "seconds",
    "test",
)


def test_histogram_names_and_labels_are_checked() -> None:
    for name in ("kafka_insight_x_seconds_bucket", "kafka_insight_x_seconds_sum", "kafka_insight_x_seconds_total"):
        with pytest.raises(ValueError):
            metric(name, "histogram", "a histogram with a series suffix in its name", unit="seconds")
    with pytest.raises(ValueError, match="le"):
        metric("kafka_insight_x_wait_seconds", "histogram", "a histogram with its own le label", ("le",), unit="seconds")
    assert WAIT.series_names == tuple(WAIT.name + s for s in ("_bucket", "_count", "_sum"))
    assert WAIT.part("_bucket").labels == ("queue", "le") and WAIT.part("_sum").name == WAIT.name + "_sum"
    with pytest.raises(ValueError):
        MetricSpec("kafka_insight_g", "gauge", "a gauge has no parts at all").part("_bucket")


def test_histogram_renders_like_prometheus_client_and_parses_back() -> None:
    out = Samples()
    out.add_histogram(WAIT, ("a",), [(0.1, 1), (1.0, 3), (math.inf, 4)], 5.5)
    out.add_histogram(WAIT, ('q"1',), [(0.1, 0), (1.0, 0), (math.inf, 2)], 60.0)  # a label that needs escaping
    text = render_text(out)
    assert text == render_reference(out)
    parsed = Parsed(text)
    assert parsed.families[WAIT.name][0] == "histogram"
    assert parsed.value(WAIT.name + "_bucket", queue="a", le="1.0") == 3
    assert parsed.value(WAIT.name + "_bucket", queue="a", le="+Inf") == 4
    assert parsed.value(WAIT.name + "_count", queue='q"1') == 2 and parsed.value(WAIT.name + "_sum", queue="a") == 5.5
    assert out.get(WAIT.name + "_bucket", queue="a", le="0.1") == 1 and out.get(WAIT.name + "_count", queue="a") == 4
    assert out.series_count() == 10


def test_histogram_input_errors() -> None:
    out = Samples()
    with pytest.raises(ValueError, match=r"\+Inf"):
        out.add_histogram(WAIT, ("a",), [(0.1, 1)], 1.0)
    with pytest.raises(ValueError, match="expected labels"):
        out.add_histogram(WAIT, (), [(math.inf, 1)], 1.0)
    out.add_histogram(WAIT, ("a",), [(math.inf, 1)], math.nan)  # dropped whole, counted
    assert out.dropped == {"test": 1} and WAIT not in out.by_spec


def test_promql_checks_know_a_histograms_series() -> None:
    name = E2E_LATENCY.name  # a histogram of the catalogue
    bucket = f"rate({E2E_LATENCY.part('_bucket').name}[5m])"
    assert promql.unknown_metrics(bucket) == set()
    assert promql.unknown_metrics(f"rate({name}_buckets[5m])") == {name + "_buckets"}
    assert promql.unknown_metrics(f"rate({name}[5m])") == {name}  # the family name is no series
    assert promql.type_errors(f"histogram_quantile(0.9, {bucket})") == []
    assert promql.type_errors(f"deriv({name}_sum[5m])") != []

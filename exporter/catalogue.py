"""The metric catalogue: every family the exporter declares (name, type, unit, labels, HELP).

Specs are declared with :func:`exporter.metrics.metric` beside the code that fills them;
the modules that do are listed once, per feature, in :data:`exporter.features.FEATURES`.
Importing this module imports them all, so dashboards, alerts, the docs and the tests see
the complete catalogue.
"""

from __future__ import annotations

from exporter import features
from exporter.metrics import MetricSpec as MetricSpec
from exporter.metrics import declared

#: the modules that declare metrics, from the feature table
EMITTING_MODULES: list[str] = features.spec_modules()


def all_specs() -> dict[str, MetricSpec]:
    """The whole catalogue, sorted by name."""
    return dict(sorted(declared().items()))


def series_specs() -> dict[str, MetricSpec]:
    """Every sample name the exporter exposes -> its family's spec (a histogram's ``_bucket``,
    ``_count`` and ``_sum`` all map to the histogram), for checking names in PromQL."""
    return {name: spec for spec in all_specs().values() for name in spec.series_names}

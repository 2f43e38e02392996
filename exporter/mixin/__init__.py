"""Dashboards, alert rules and runbooks generated from the metric catalogue.

``python -m exporter.mixin.generate`` writes ``dashboards/*.json``,
``alerts/kafka-insight-rules.yml`` and ``docs/runbook.md``.  Every metric name in them
comes from a :class:`~exporter.catalogue.MetricSpec`; :mod:`exporter.mixin.promql`
checks the finished expressions against the catalogue once more.
"""

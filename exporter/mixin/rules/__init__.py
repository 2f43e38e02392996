"""The alert rule groups, one module each (:mod:`exporter.mixin.alerts` puts them together)."""

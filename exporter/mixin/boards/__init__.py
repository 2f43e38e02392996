"""The dashboards, one module each with one builder per row (:mod:`exporter.mixin.dashboards` lists them)."""

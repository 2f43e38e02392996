"""Moved to :mod:`exporter.sources.jmx.broker_specs` (specs) and :mod:`exporter.sources.jmx.broker`
(the source); this path only re-exports the specs until ``exporter.mixin`` imports the new one."""

from exporter.sources.jmx.broker_specs import *  # noqa: F403

"""Moved to :mod:`exporter.sources.jmx.client_specs` (specs) and :mod:`exporter.sources.jmx.client`
(the source); this path only re-exports the specs until ``exporter.mixin`` imports the new one."""

from exporter.sources.jmx.client_specs import *  # noqa: F403

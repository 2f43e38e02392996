"""The public import path of :mod:`exporter.sources.client_stats.forwarder` for applications::

    from exporter.stats_forwarder import StatsForwarder
"""

from exporter.sources.client_stats.forwarder import DEFAULT_TOPIC as DEFAULT_TOPIC
from exporter.sources.client_stats.forwarder import ENVELOPE_FORMAT as ENVELOPE_FORMAT
from exporter.sources.client_stats.forwarder import FORWARDED_SETTINGS as FORWARDED_SETTINGS
from exporter.sources.client_stats.forwarder import StatsForwarder as StatsForwarder

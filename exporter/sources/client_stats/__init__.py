"""librdkafka client statistics: applications forward them to a topic, the exporter consumes them.

* :mod:`.forwarder` — the application side (:class:`~.forwarder.StatsForwarder`, public as
  ``exporter.stats_forwarder``); depends on confluent-kafka only;
* :mod:`.config` — the ``client_stats`` section as the source reads it;
* :mod:`.records` — what one message says (:class:`~.records.ClientInstance`) and the
  source's payload (:class:`~.records.ClientStatsState`); :mod:`.parse` — message -> record;
* :mod:`.store` — the latest record per client instance, bounded;
* :mod:`.consumer` — the source: a consumer thread filling the store, a job snapshotting it;
* :mod:`.specs` / :mod:`.emit` — its metric specs and records -> samples.

The derived gauges (reordering risk, lag in seconds, ...) are interpretation:
:mod:`exporter.interpret.client_stats`.  The specs are re-exported here
(``from exporter.sources import client_stats as cs``; ``cs.TRACKED``), the names dashboards
and alerts refer to; nothing else is, so no submodule's import runs one that imports it back.
"""

from exporter.sources.client_stats.specs import *  # noqa: F403

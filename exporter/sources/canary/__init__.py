"""The durability canary source (issue 19): opt-in, it WRITES to the cluster.

* :mod:`.config` — the ``canary:`` section as typed settings;
* :mod:`.records` — the bookkeeping (acknowledgement window, counters, the snapshot);
* :mod:`.specs` — its metric specs; :mod:`.emit` — snapshot -> samples;
* :mod:`.runner` — the background threads (topic, producer, reader);
* :mod:`.source` — :class:`~.source.CanarySource`, what the cycle runs.

The specs are re-exported here, the names dashboards and alerts refer to.
"""

from exporter.sources.canary.specs import *  # noqa: F403

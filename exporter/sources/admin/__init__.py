"""The Admin-API source: cluster, topics, partitions, offsets, topic configs, consumer groups.

* :mod:`.records` — what it collects (:class:`~.records.ClusterState` and its parts);
* :mod:`.specs` — its metric specs; :mod:`.emit` — records -> samples (and the rendered block);
* :mod:`.client` — the Admin-API I/O (runs in the worker process);
* :mod:`.worker` — the worker process and its protocol;
* :mod:`.source` — :class:`~.source.AdminSource`, the parent-side source the cycle runs.

The specs are re-exported here (``from exporter.sources import admin as ad``;
``ad.CLUSTER_INFO``), the names dashboards and alerts refer to.  Nothing else is: this
``__init__`` imports no module that imports the package back.
"""

from exporter.sources.admin.specs import *  # noqa: F403

"""The Kafka Connect source: connector and task health from the REST API, and the workers' JMX.

* :mod:`.config` — the ``connect`` configuration section (clusters: url, auth, TLS, timeout, jmx);
* :mod:`.records` — what it collects (:class:`~.records.ConnectCluster`, :class:`~.records.WorkerJmx`);
* :mod:`.specs` — its metric specs; :mod:`.emit` — records -> samples;
* :mod:`.rest` — the REST calls and their pure parser; :mod:`.jmx` — the MBean patterns and their parser;
* :mod:`.source` — :class:`~.source.ConnectSource`, the source the cycle runs (off until configured).

The specs are re-exported here (``from exporter.sources import connect as cn``).
"""

from exporter.sources.connect.specs import *  # noqa: F403

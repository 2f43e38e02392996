"""Interpretation: derived gauges that say what Kafka's raw numbers mean.

Every module here is pure (no I/O): it reads the cycle's :class:`~exporter.snapshot.Snapshot`
and adds samples.  State that must survive a cycle (log end offset history for lag in
seconds and regressions, committed offsets for stalled/rewound groups, last known racks
and topic configs) lives in bounded objects owned by the interpreter instances, each with
its memory cost documented where it is defined.

* :mod:`.durability` — P1: ISR headroom, at/under min ISR, racks, durability risk per topic.
* :mod:`.offsets` — P3 and lag: committed offsets beyond the log end / below the log start,
  log end offset regressions, forced flush, lag in seconds, Burrow-style group status.
* :mod:`.producers` — P2/P4/P5 from JMX: reordering risk, compression savings, batching.
* :mod:`.client_stats` — from librdkafka statistics: reordering risk, positions, lag in seconds.
* :mod:`.blast_radius` — P1/P3 ahead of time: what a broker or rack failure would break now.
* :mod:`.findings` — the findings page: plain-words statements from all of the above (runs last).

This ``__init__`` imports none of them (importing one runs this file first: a cycle);
the feature table (:mod:`exporter.features`) wires them.
"""

"""Findings: what is at risk now, in plain words, from the same samples as ``/metrics``.

The last interpretation step of a cycle.  It reads the samples the other interpreters
added this cycle (so the page, the JSON and the metrics never disagree), the Admin-API
state (replication factors, configs) and the blast radius of
:mod:`exporter.interpret.blast_radius`, and builds one JSON-ready document
(:data:`SCHEMA_ID`, described in ``docs/findings.md``) that the HTTP side serves as ``/``
and ``/findings.json``.

Each :class:`Rule` says one thing (a pitfall, a severity equal to its alert's, a runbook
section: the alert's); a rule with affected objects this cycle is a *finding*.  Memory:
the cycle time each current finding was first seen (one float per finding id, dropped as
soon as the finding is gone), so a finding that disappears and comes back starts anew.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from typing import TYPE_CHECKING, Any

from exporter import __version__
from exporter.interpret import blast_radius as br
from exporter.interpret import client_stats as ic
from exporter.interpret import durability_specs as du
from exporter.interpret import offsets_specs as of
from exporter.interpret import producer_specs as pr
from exporter.interpret.durability import DERIVED_KEY as DURABILITY
from exporter.metrics import MetricSpec, Samples
from exporter.sources.admin.records import ClusterState

if TYPE_CHECKING:
    from exporter.config import Config
    from exporter.snapshot import Snapshot

SCHEMA_ID = "kafka-insight-findings/1"
DERIVED_KEY = "findings"
#: the runbook served beside the page; anchors are the alert names in lower case
RUNBOOK_PATH = "/runbook"
#: objects listed per finding in the JSON (the count is always complete)
MAX_ITEMS = 200

#: pitfall id -> heading, in page order
PITFALLS: dict[str, str] = {
    "P1": "P1 durability: replication that cannot survive a broker",
    "P2": "P2 ordering: producers that can reorder",
    "P3": "P3 lost data: power loss, rack loss, offsets beyond the data",
    "P4": "P4 compression",
    "P5": "P5 batching",
    "lag": "Consumer lag",
    "exporter": "Exporter health",
}
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Draft:
    """A rule's result for one cycle: the statement and the affected objects."""

    statement: str
    kind: str  # topic, partition, group, producer, broker, rack, target
    items: list[str]


@dataclass
class Context:
    samples: Samples
    state: ClusterState | None
    radius: br.BlastRadius | None
    snapshot: Snapshot
    #: per spec, the labels of its rows whose value is 1, found once per cycle: several rules
    #: read the same flag family (each partition rule excludes the no-tolerance topics)
    _ones: dict[MetricSpec, list[dict[str, str]]] = field(default_factory=dict)

    def rows(self, spec: MetricSpec, **match: str) -> Iterator[tuple[dict[str, str], float]]:
        for values, number in self.samples.by_spec.get(spec, []):
            labels = dict(zip(spec.labels, values, strict=True))
            if all(labels.get(k) == v for k, v in match.items()):
                yield labels, number

    def flagged(self, spec: MetricSpec, **match: str) -> list[dict[str, str]]:
        """Labels of the rows whose value is 1 (risk flags), matching ``match``."""
        ones = self._ones.get(spec)
        if ones is None:
            ones = self._ones[spec] = self._find_ones(spec)
        if not match:
            return list(ones)
        return [labels for labels in ones if all(labels.get(k) == v for k, v in match.items())]

    def positive(self, spec: MetricSpec) -> list[dict[str, str]]:
        """Labels of the rows whose value is above 0 (counters that counted something)."""
        rows = self.samples.by_spec.get(spec)
        if rows is None:
            return []
        names = spec.labels
        return [dict(zip(names, values, strict=True)) for values in compress(rows.labels, map((0.0).__lt__, rows.values))]

    def _find_ones(self, spec: MetricSpec) -> list[dict[str, str]]:
        rows = self.samples.by_spec.get(spec)
        # most of 10k partitions' flags are 0: counted at C speed, labels only for the ones
        if rows is None or not rows.values.count(1.0):
            return []
        names = spec.labels
        return [dict(zip(names, values, strict=True)) for values, number in rows if number == 1]


@dataclass(frozen=True)
class Rule:
    id: str
    pitfall: str
    severity: str
    #: the alert whose runbook section explains it (anchor: its name in lower case)
    alert: str
    action: str
    find: Callable[[Context], Draft | None]
    #: reads only the durability step's samples and the partitions and configs: found from
    #: the state sent ahead of the groups when the durability step's prepared result holds
    #: (see FindingsInterpreter.prepare)
    ahead: bool = False


def _partitions(labels: list[dict[str, str]]) -> list[str]:
    return _named(_key(x["topic"], x["partition"]) for x in labels)


def _key(topic: str, partition: str | int) -> tuple[str, int | str]:
    text = str(partition)
    return (topic, int(text)) if text.isdigit() else (topic, text)


def _named(keys: Iterable[tuple[str, int | str]]) -> list[str]:
    """"topic/partition" in natural order (partition 2 before 10), each once: sorted as
    (topic, number) pairs, formatted after (a findings page on a cluster without racks or
    with RF 1 lists every partition: 10,000 to 100,000 of them)."""
    unique = set(keys)
    try:
        ordered = sorted(unique)  # (str, int) pairs: compared in C, no key function per pair
    except TypeError:  # a partition that is not a number (never from Kafka): after the numbered ones
        ordered = sorted(unique, key=_sortable)
    return [f"{t}/{p}" for t, p in ordered]


def _sortable(key: tuple[str, int | str]) -> tuple[str, int, int, str]:
    topic, partition = key
    return (topic, 0, partition, "") if isinstance(partition, int) else (topic, 1, 0, partition)


def _topics_of(partitions: list[str]) -> str:
    topics = sorted({p.rpartition("/")[0] for p in partitions})
    shown = ", ".join(f"`{t}`" for t in topics[:3])
    return shown + (f" and {len(topics) - 3} more topics" if len(topics) > 3 else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _agree(n: int, text: str) -> str:
    """``text`` written for a plural subject ("have ..."), made to agree with ``n``."""
    return "has " + text[5:] if n == 1 and text.startswith("have ") else text


def _partition_rule(
    spec: MetricSpec, text: str, exclude: Callable[[Context], set[str]] | None = None
) -> Callable[[Context], Draft | None]:
    def find(ctx: Context) -> Draft | None:
        skip = exclude(ctx) if exclude else set()
        found = [p for p in _partitions(ctx.flagged(spec)) if p.rpartition("/")[0] not in skip]
        if not found:
            return None
        return Draft(f"{_plural(len(found), 'partition')} of {_topics_of(found)} {_agree(len(found), text)}", "partition", found)

    return find


def _no_tolerance_topics(ctx: Context) -> set[str]:
    return {x["topic"] for x in ctx.flagged(du.DURABILITY_RISK, reason="no_failure_tolerance")}


def _topic_settings(ctx: Context, topic: str) -> str:
    rf = "? replicas"
    configured = "?"
    t = None if ctx.state is None else ctx.state.topics.get(topic) or ctx.state.internal_topics.get(topic)
    if t is not None:
        rf = _plural(t.replication_factor, "replica")
        cv = None if t.configs is None else t.configs.get("min.insync.replicas")
        if t.configs is None:
            configured = "unknown (its configs could not be read)"
        elif cv is None or cv.value is None:
            configured = "1, Kafka's default"
        else:  # inherited from the broker: changing it there changes every such topic
            configured = cv.value if cv.explicit else f"{cv.value}, inherited"
    return f"{rf} and min.insync.replicas={configured}"


_RISK_TEXT = {
    "single_copy_ack": "one broker failure can lose acknowledged writes (they may be acknowledged by the leader alone)",
    "no_failure_tolerance": "one broker failure refuses acks=all writes",
    "unclean_election": "unclean leader election is on: an out-of-sync replica may lead and truncate acknowledged writes",
}


def _risk_rule(reason: str) -> Callable[[Context], Draft | None]:
    def find(ctx: Context) -> Draft | None:
        topics = sorted({x["topic"] for x in ctx.flagged(du.DURABILITY_RISK, reason=reason)})
        if not topics:
            return None
        if len(topics) == 1:
            return Draft(f"topic `{topics[0]}`: {_topic_settings(ctx, topics[0])} — {_RISK_TEXT[reason]}", "topic", topics)
        items = [f"{t} ({_topic_settings(ctx, t)})" for t in topics]
        return Draft(f"{len(topics)} topics: {_RISK_TEXT[reason]}", "topic", items)

    return find


_OUTCOME_TEXT = {
    "under_min_isr": "under min ISR",
    "no_insync_copy": "without an in-sync copy",
    "offline": "of them offline",
    "unclean_election": "of them by unclean election",
}


def _exposed_writes(ctx: Context, kind: str) -> tuple[list[str], tuple[str, int]] | None:
    """The partitions one ``kind`` (broker or rack) failure would break for acks=all writes,
    and the worst such failure domain; None when the cluster survives any of them."""
    radius = ctx.radius
    if radius is None:
        return None
    exposed = _named((t, p) for t, p in radius.exposed(kind, "acks_all_writes"))
    worst = radius.worst(kind, "acks_all_writes")
    if not exposed or worst is None:
        return None
    return exposed, worst


def _not_broker_safe(ctx: Context) -> Draft | None:
    found = _exposed_writes(ctx, "broker")
    if found is None or ctx.radius is None:
        return None
    radius, (exposed, worst) = ctx.radius, found
    impact = radius.brokers[int(worst[0])]
    parts = [f"{impact.count(o)} {text}" for o, text in _OUTCOME_TEXT.items() if impact.count(o)]
    return Draft(
        f"the cluster is not single-broker safe for acks=all writes: one broker's failure would break "
        f"{_plural(len(exposed), 'partition')}; the worst is broker {worst[0]} ({', '.join(parts)})",
        "partition",
        exposed,
    )


def _not_rack_safe(ctx: Context) -> Draft | None:
    found = _exposed_writes(ctx, "rack")
    if found is None or ctx.radius is None:
        return None
    radius, (exposed, worst) = ctx.radius, found
    brokers = sorted(b for b, rack in radius.rack_of.items() if rack == worst[0])
    return Draft(
        f"losing one rack (power domain) would break acks=all writes to {_plural(len(exposed), 'partition')}; "
        f"the worst is rack `{worst[0]}` (brokers {', '.join(map(str, brokers))}: {worst[1]} partitions)",
        "partition",
        exposed,
    )


def _one_rack(ctx: Context) -> Draft | None:
    single = {t.name for t in ctx.state.topics.values() if t.replication_factor == 1} if ctx.state else set()
    # RF 1 topics are their own finding: left out before formatting and sorting (on a cluster
    # without broker.rack every partition is flagged: 10,000 strings sorted for nothing)
    found = _partitions([x for x in ctx.flagged(du.IN_ONE_RACK) if x["topic"] not in single])
    if not found:
        return None
    return Draft(
        f"{_plural(len(found), 'partition')} of {_topics_of(found)} have every replica in one rack or on brokers "
        "without broker.rack: one power loss can take every copy",
        "partition",
        found,
    )


def _regressions(ctx: Context) -> Draft | None:
    found = _partitions(ctx.positive(of.REGRESSIONS))
    if not found:
        return None
    return Draft(
        f"the log end offset went backwards on {_plural(len(found), 'partition')} of {_topics_of(found)} since the "
        "exporter started: acknowledged messages were lost (unclean election or power loss)",
        "partition",
        found,
    )


def _group_offsets(spec: MetricSpec, text: str) -> Callable[[Context], Draft | None]:
    def find(ctx: Context) -> Draft | None:
        flagged = ctx.flagged(spec)
        if not flagged:
            return None
        items = sorted({f"{x['group']} on {x['topic']}/{x['partition']}" for x in flagged})
        groups = sorted({x["group"] for x in flagged})
        named = ", ".join(f"`{g}`" for g in groups[:3]) + ("…" if len(groups) > 3 else "")
        return Draft(f"{_plural(len(groups), 'consumer group')} ({named}) {_agree(len(groups), text)}", "group", items)

    return find


def _group_status(status: str, text: str) -> Callable[[Context], Draft | None]:
    def find(ctx: Context) -> Draft | None:
        groups = sorted({x["group"] for x in ctx.flagged(of.GROUP_STATUS, status=status)})
        if not groups:
            return None
        return Draft(f"{_plural(len(groups), 'consumer group')} {_agree(len(groups), text)}", "group", groups)

    return find


def _reordering(ctx: Context) -> Draft | None:
    java = {f"{x['client_id']} ({x['target']})" for x in ctx.flagged(pr.PRODUCER_REORDERING, verdict="reorders")}
    librdkafka = {f"{x['client_id']} ({x['client_instance']})" for x in ctx.flagged(ic.REORDERING_RISK)}
    found = sorted(java | librdkafka)
    if not found:
        return None
    return Draft(
        f"{_plural(len(found), 'producer')} can write records out of order when they retry "
        "(idempotence off with several requests in flight)",
        "producer",
        found,
    )


def _reordered(ctx: Context) -> Draft | None:
    found = sorted({f"{x['client_id']} ({x['target']})" for x in ctx.flagged(pr.PRODUCER_REORDERING_EVIDENCE)})
    if not found:
        return None
    return Draft(
        f"{_plural(len(found), 'producer')} retried sends while able to reorder: the order on the topic may already be broken",
        "producer",
        found,
    )


def _compression(ctx: Context) -> Draft | None:
    found = sorted({f"{x['client_id']} ({x['target']})" for x, v in ctx.rows(pr.SAVINGS) if 0 < v < 0.1})
    if not found:
        return None
    return Draft(
        f"{_plural(len(found), 'producer')}: compression saves less than 10% of the bytes, CPU spent for little",
        "producer",
        found,
    )


def _sources_down(ctx: Context) -> Draft | None:
    down = sorted(f"{r.source} {r.target}: {r.error or 'down'}" for r in ctx.snapshot.results if not r.up)
    if not down:
        return None
    return Draft(
        f"{_plural(len(down), 'source target')} could not be collected this cycle: their metrics and findings are missing",
        "target",
        down,
    )


RULES: tuple[Rule, ...] = (
    Rule("offline_partitions", "P1", "critical", "KafkaOfflinePartitions",
         "Start the brokers that hold these partitions' replicas.",
         _partition_rule(du.OFFLINE, "have no leader: producing and consuming fail"), ahead=True),
    Rule("under_min_isr", "P1", "critical", "KafkaPartitionsUnderMinIsr",
         "Bring back the brokers missing from the ISRs; acks=all producers get NotEnoughReplicas meanwhile.",
         _partition_rule(du.UNDER_MIN_ISR, "have fewer in-sync replicas than min.insync.replicas: acks=all writes are refused now"), ahead=True),
    Rule("not_single_broker_safe", "P1", "warning", "KafkaClusterNotSingleBrokerSafe",
         "Do not stop or restart a broker; bring lagging replicas back in sync and fix RF / min.insync.replicas.",
         _not_broker_safe),
    Rule("at_min_isr", "P1", "warning", "KafkaPartitionsAtMinIsr",
         "Do not take another broker down until the missing replicas are back in sync.",
         _partition_rule(du.AT_MIN_ISR, "have exactly min.insync.replicas in sync: one more broker loss refuses acks=all writes",
                         _no_tolerance_topics), ahead=True),
    Rule("under_replicated", "P1", "warning", "KafkaUnderReplicatedPartitions",
         "Find the broker missing from these ISRs (down or lagging) and bring it back.",
         _partition_rule(du.UNDER_REPLICATED, "have fewer in-sync replicas than replicas"), ahead=True),
    Rule("durability_risk.single_copy_ack", "P1", "info", "KafkaTopicDurabilityRisk",
         "Set min.insync.replicas=2 with RF 3.", _risk_rule("single_copy_ack"), ahead=True),
    Rule("durability_risk.no_failure_tolerance", "P1", "info", "KafkaTopicDurabilityRisk",
         "Raise the replication factor or lower min.insync.replicas to RF - 1.", _risk_rule("no_failure_tolerance"), ahead=True),
    Rule("durability_risk.unclean_election", "P1", "info", "KafkaTopicDurabilityRisk",
         "Set unclean.leader.election.enable=false.", _risk_rule("unclean_election"), ahead=True),
    Rule("producer_can_reorder", "P2", "warning", "KafkaProducerCanReorder",
         "Set enable.idempotence=true (or max.in.flight.requests.per.connection=1) in these producers.", _reordering),
    Rule("producer_may_have_reordered", "P2", "warning", "KafkaProducerMayHaveReordered",
         "Fix the producer settings and check the consumers that depend on order.", _reordered),
    Rule("not_rack_safe", "P3", "info", "KafkaReplicasInOneRack",
         "Set broker.rack per power domain and reassign replicas rack-aware.", _not_rack_safe),
    Rule("replicas_in_one_rack", "P3", "info", "KafkaReplicasInOneRack",
         "Set broker.rack on every broker and reassign replicas rack-aware.", _one_rack, ahead=True),
    Rule("log_end_offset_decreased", "P3", "critical", "KafkaLogEndOffsetDecreased",
         "Find out which broker lost data (unclean election, power loss) and what consumers re-read or skipped.", _regressions),
    Rule("offset_beyond_log_end", "P3", "critical", "KafkaCommittedOffsetBeyondLogEnd",
         "Reset these groups' offsets to the log end (kafka-consumer-groups.sh --reset-offsets --to-latest) after checking what was lost.",
         _group_offsets(of.BEYOND_END, "have committed offsets beyond the log end: they will skip the next messages written")),
    Rule("offset_below_log_start", "P3", "warning", "KafkaCommittedOffsetBelowLogStart",
         "The messages between the commit and the log start are gone; raise retention or speed these consumers up.",
         _group_offsets(of.BELOW_START, "have committed offsets below the log start: retention deleted messages they never read")),
    Rule("compression_ineffective", "P4", "info", "KafkaCompressionIneffective",
         "Try another codec (zstd, lz4) or larger batches (linger.ms), or turn compression off for this data.", _compression),
    Rule("group_stalled", "lag", "warning", "KafkaConsumerGroupNotProgressing",
         "Check the consumers' logs: a poison message, a deadlock or an endless rebalance.",
         _group_status("stalled", "have members but their committed offsets stopped moving while lag grows")),
    Rule("group_stopped", "lag", "warning", "KafkaConsumerGroupNotProgressing",
         "Start the consumers, or delete the group if it is no longer used.",
         _group_status("stopped", "made no commit progress for the whole status window while messages wait (no member seen in it)")),
    Rule("group_lagging", "lag", "warning", "KafkaConsumerGroupLagHigh",
         "Scale the consumers (more instances, up to the partition count) or make them faster.",
         _group_status("lagging", "have consumers that commit, but fall behind the producers (lag in seconds above the threshold)")),
    Rule("source_down", "exporter", "warning", "KafkaInsightSourceDown",
         "Check the named target (address, credentials, JMX port) and the exporter's log.", _sources_down),
)  # fmt: skip


def _fold(items: list[str]) -> dict[str, Any]:
    return {"count": len(items), "items": items[:MAX_ITEMS], "truncated": len(items) > MAX_ITEMS}


def _folded(draft: Draft | None) -> tuple[str, dict[str, Any]] | None:
    """A draft as its finding shows it: the statement and the (folded) objects."""
    return None if draft is None else (draft.statement, {"kind": draft.kind, **_fold(draft.items)})


def _blast_table(radius: br.BlastRadius | None) -> dict[str, Any] | None:
    if radius is None:
        return None

    def row(impact: br.FailureImpact) -> dict[str, int]:
        return {o: impact.count(o) for o in br.OUTCOMES}

    return {
        "brokers": [{"broker_id": b, "rack": radius.rack_of[b], **row(impact)} for b, impact in radius.brokers.items()],
        "racks": [{"rack": rack, "broker_ids": sorted(impact.failed), **row(impact)} for rack, impact in radius.racks.items()],
        "survives": {kind: {access: radius.survives(kind, access) for access in br.ACCESS} for kind in ("broker", "rack")},
        "exposed_partitions": {
            kind: {access: len(radius.exposed(kind, access)) for access in br.ACCESS} for kind in ("broker", "rack")
        },
    }


class FindingsInterpreter:
    """Builds the cycle's findings document into ``snapshot.derived["findings"]``; must run
    after every interpreter whose samples it reads."""

    def __init__(self, rules: tuple[Rule, ...] = RULES) -> None:
        self.rules = rules
        #: finding id -> unix time of the cycle it was first seen in (current findings only)
        self.first_seen: dict[str, float] = {}
        #: what prepare() found from the state sent ahead: the durability analysis it read,
        #: and the ``ahead`` rules' findings (statement and objects, folded)
        self._prepared: tuple[object, dict[str, tuple[str, dict[str, Any]] | None]] | None = None

    def prepare(self, snapshot: Snapshot, out: Samples) -> None:
        """The ``ahead`` rules' drafts from the state sent ahead of the groups and the
        samples the durability step prepared from it (``out``); used at the cycle's end when
        that step's prepared result held."""
        self._prepared = None
        durability = snapshot.derived.get(DURABILITY)
        if snapshot.admin is None or durability is None:
            return
        ctx = Context(out, snapshot.admin, None, snapshot)
        # folded at once: a draft lists every affected object (50k partitions of a cluster
        # without racks), held until the cycle's end otherwise
        self._prepared = (durability, {rule.id: _folded(rule.find(ctx)) for rule in self.rules if rule.ahead})

    def document(self, snapshot: Snapshot, out: Samples) -> dict[str, Any]:
        ctx = Context(out, snapshot.admin, snapshot.derived.get(br.DERIVED_KEY), snapshot)
        now = snapshot.started or time.time()
        groups: dict[str, list[dict[str, Any]]] = {p: [] for p in PITFALLS}
        seen: dict[str, float] = {}
        prepared, self._prepared = self._prepared, None
        found: dict[str, tuple[str, dict[str, Any]] | None] = {}
        if prepared is not None and prepared[0] is snapshot.derived.get(DURABILITY):
            found = prepared[1]
        for rule in self.rules:
            finding = found[rule.id] if rule.id in found else _folded(rule.find(ctx))
            if finding is None:
                continue
            since = seen[rule.id] = self.first_seen.get(rule.id, now)
            groups[rule.pitfall].append(
                {
                    "id": rule.id,
                    "severity": rule.severity,
                    "statement": finding[0],
                    "since": since,
                    "objects": finding[1],
                    "action": rule.action,
                    "runbook": f"{RUNBOOK_PATH}#{rule.alert.lower()}",
                }
            )
        self.first_seen = seen
        for findings in groups.values():
            findings.sort(key=lambda f: SEVERITIES.index(f["severity"]))
        return {
            "schema": SCHEMA_ID,
            "exporter_version": __version__,
            "cluster_id": ctx.state.cluster_id if ctx.state else None,
            "cycle_started": snapshot.started,
            "groups": [{"pitfall": p, "title": title, "findings": groups[p]} for p, title in PITFALLS.items()],
            "blast_radius": _blast_table(ctx.radius),
            "sources": [
                {"source": r.source, "target": r.target, "up": r.up, "error": r.error, "duration_seconds": round(r.duration, 3)}
                for r in snapshot.results
            ],
        }

    def __call__(self, snapshot: Snapshot, out: Samples) -> None:
        snapshot.derived[DERIVED_KEY] = self.document(snapshot, out)


def build(config: Config) -> FindingsInterpreter:
    """Interpreter factory (exporter.app registers it last)."""
    return FindingsInterpreter()

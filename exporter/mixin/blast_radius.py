"""Dashboard row of the blast radius (issue 15): is the cluster N-1 safe, per broker and per rack.

A row builder of its own so that any dashboard can carry it;
carried by the "what is at risk now" dashboard.
"""

from __future__ import annotations

from exporter.interpret import blast_radius as br
from exporter.mixin.panels import PanelDef, Query, q

WRITES = 'access="acks_all_writes"'
READS = 'access="reads"'
TITLE = "Blast radius: what one broker or rack failure would break now"


def _safe(title: str, description: str, expr: str) -> PanelDef:
    return PanelDef(
        title, description, "short", (Query(expr),), kind="stat", width=4, height=5, thresholds=((None, "red"), (1.0, "green"))
    )


def _exposed(title: str, description: str, expr: str) -> PanelDef:
    return PanelDef(
        title, description, "short", (Query(expr),), kind="stat", width=4, height=5, thresholds=((None, "green"), (1.0, "red"))
    )


def blast_radius_row() -> tuple[str, tuple[PanelDef, ...]]:
    """(row title, panels): four N-1 verdicts, the two exposed counts, the broker and rack tables."""
    outcomes = """Outcomes: offline - no in-sync replica left and no leader can be elected; under_min_isr - a
    leader is left but fewer in-sync replicas than the effective min ISR, so acks=all writes are refused;
    no_insync_copy - every copy that acknowledged writes is on a stopped broker (includes offline and
    unclean_election); unclean_election - unclean election is on and an out-of-sync replica takes over,
    truncating acknowledged writes."""
    panels = (
        _safe(
            "Survives any broker: acks=all writes",
            """1 (green): stopping any one broker now leaves every partition writable with acks=all and
            keeps an in-sync copy of every acknowledged write. 0 (red): some broker's failure would refuse
            acks=all writes or lose acknowledged ones — do not restart a broker; see the broker table.""",
            q(br.SURVIVES_BROKER, WRITES),
        ),
        _safe(
            "Survives any broker: reads",
            """1 (green): stopping any one broker now leaves every partition with a leader, so consumers keep
            reading. 0 (red): some partition has its only in-sync replica on one broker (RF 1, or a shrunk ISR).""",
            q(br.SURVIVES_BROKER, READS),
        ),
        _exposed(
            "Partitions one broker can break",
            """Partitions that the failure of at least one single broker would break for acks=all writes
            (under min ISR, or no in-sync copy left). Good: 0.""",
            q(br.BROKER_EXPOSED, WRITES),
        ),
        _safe(
            "Survives any rack: acks=all writes",
            """1 (green): losing every broker of any one rack (broker.rack; brokers without one form the rack
            "unknown") keeps acks=all writes working and acknowledged writes safe — the power-loss case. 0 (red):
            see the rack table; a cluster without racks is one rack and always 0.""",
            q(br.SURVIVES_RACK, WRITES),
        ),
        _safe(
            "Survives any rack: reads",
            """1 (green): losing any one rack leaves every partition with a leader. 0 (red): some partition has
            all in-sync replicas in one rack.""",
            q(br.SURVIVES_RACK, READS),
        ),
        _exposed(
            "Partitions one rack can break",
            """Partitions that the loss of at least one rack would break for acks=all writes. Good: 0.""",
            q(br.RACK_EXPOSED, WRITES),
        ),
        PanelDef(
            "Blast radius per broker",
            f"""One row per live broker and outcome: the partitions that would have that outcome if the broker
            stopped now (from this cycle's ISRs and topic settings). Good: 0 everywhere. {outcomes}""",
            "short",
            (Query(f"sum by (broker_id, outcome) ({q(br.BROKER_FAILURE)})", instant=True),),
            kind="table",
            height=10,
        ),
        PanelDef(
            "Blast radius per rack",
            f"""One row per rack and outcome: the partitions that would have that outcome if every broker of the
            rack stopped at once (power loss). Good: 0 everywhere. {outcomes}""",
            "short",
            (Query(f"sum by (rack, outcome) ({q(br.RACK_FAILURE)})", instant=True),),
            kind="table",
            height=10,
        ),
    )
    return TITLE, panels

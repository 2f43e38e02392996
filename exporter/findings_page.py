"""The findings page (``/``) and ``/findings.json``, rendered from a published findings document.

Import-light on purpose: the serving process renders the page per request from the
document the collecting process published (``exporter.interpret.findings``) and the
status that came with it, so a page request never reaches Kafka and costs about what a
``/metrics`` request costs.  Plain HTML and CSS: no JavaScript, no external assets (not
even a favicon request), one column that reads on a phone.
"""

from __future__ import annotations

import functools
import html
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from exporter import __version__


class TargetLike(Protocol):
    """A source target's status (exporter.http.TargetStatus; structural, so that this module
    and exporter.http, which renders with it, do not import each other)."""

    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def up(self) -> bool: ...
    @property
    def error(self) -> str | None: ...
    @property
    def duration(self) -> float: ...


class Status(Protocol):
    """What the page shows besides the findings (exporter.http.Status)."""

    @property
    def ready(self) -> bool: ...
    @property
    def finished(self) -> float: ...
    @property
    def interval(self) -> float: ...
    @property
    def targets(self) -> Sequence[TargetLike]: ...


#: the runbook as HTML, generated with the alerts (python -m exporter.mixin.generate) and
#: shipped in the package, so /runbook costs the serving process one file read
RUNBOOK_HTML = Path(__file__).resolve().parent / "runbook.html"
#: objects shown before the rest of a list is folded into a <details>
SHOWN_ITEMS = 8
OUTCOME_HEADINGS = (
    ("offline", "offline"),
    ("under_min_isr", "under min ISR"),
    ("no_insync_copy", "no in-sync copy"),
    ("unclean_election", "unclean election"),
)
_CODE = re.compile(r"`([^`]+)`")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:60rem;padding:.8rem;
line-height:1.4;color:#1b1b1b;background:#fff}
h1{font-size:1.4rem;margin:.2rem 0}h2{font-size:1.15rem;margin:1.4rem 0 .4rem;border-bottom:1px solid #ccc}
.meta{color:#555;font-size:.9rem}nav a{margin-right:.8rem}
article{border-left:.35rem solid #999;padding:.3rem .6rem;margin:.5rem 0;background:#f7f7f7;overflow-wrap:anywhere}
article.critical{border-color:#c62828}article.warning{border-color:#ef8f00}article.info{border-color:#1565c0}
.sev{font-weight:bold;text-transform:uppercase;font-size:.75rem;letter-spacing:.05em}
.critical .sev{color:#c62828}.warning .sev{color:#a15c00}.info .sev{color:#1565c0}
.statement{margin:.2rem 0;font-size:1.02rem}.small{font-size:.85rem;color:#444}
code{background:#eee;padding:0 .2rem;border-radius:.2rem}
table{border-collapse:collapse;margin:.4rem 0;font-size:.9rem;display:block;overflow-x:auto}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:left}td.n{text-align:right}td.bad{background:#fde0dc}
.ok{color:#2e7d32}.nok{color:#c62828;font-weight:bold}summary{cursor:pointer}
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _statement(text: str) -> str:
    return _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", _e(text))


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _objects(objects: dict[str, Any]) -> str:
    items = [_e(i) for i in objects.get("items", [])]
    count = int(objects.get("count", len(items)))
    shown = ", ".join(f"<code>{i}</code>" for i in items[:SHOWN_ITEMS])
    head = f'<div class="small">{count} {_e(objects.get("kind", "object"))}{"" if count == 1 else "s"}: {shown}'
    if count <= SHOWN_ITEMS:
        return head + "</div>"
    rest = ", ".join(f"<code>{i}</code>" for i in items[SHOWN_ITEMS:])
    more = count - SHOWN_ITEMS
    hidden = count - len(items)
    tail = f" (and {hidden} more, not listed)" if hidden > 0 else ""
    return f"{head}<details><summary>and {more} more</summary>{rest}{tail}</details></div>"


def _finding(f: dict[str, Any], now: float) -> str:
    sev = f["severity"] if f.get("severity") in ("critical", "warning", "info") else "info"
    return (
        f'<article class="{sev}" id="finding-{_e(f["id"])}" data-finding="{_e(f["id"])}" data-count="{int(f["objects"]["count"])}">'
        f'<span class="sev">{sev}</span>'
        f'<p class="statement">{_statement(f["statement"])}</p>'
        f'<div class="small">since {_e(_utc(f["since"]))} ({_ago(now - f["since"])} ago)</div>'
        f"{_objects(f['objects'])}"
        f'<div class="small"><b>What to do:</b> {_e(f["action"])} <a href="{_e(f["runbook"])}">Runbook</a></div>'
        "</article>"
    )


def _blast_radius(table: dict[str, Any] | None) -> str:
    if table is None:
        return "<p>Not known this cycle: the Admin API source did not answer.</p>"
    parts = []
    for kind, label in (("broker", "any one broker"), ("rack", "the loss of any one rack")):
        verdicts = []
        for access, what in (("acks_all_writes", "acks=all writes"), ("reads", "reads")):
            ok = table["survives"][kind][access]
            exposed = table["exposed_partitions"][kind][access]
            verdicts.append(
                f'<span class="{"ok" if ok else "nok"}">{what}: {"safe" if ok else f"{exposed} partitions break"}</span>'
            )
        parts.append(f"<li>Survives {label}? {' · '.join(verdicts)}</li>")
    out = [f"<ul>{''.join(parts)}</ul>"]
    for rows, key, title in (
        (table["brokers"], "broker_id", "If this broker stops now"),
        (table["racks"], "rack", "If this rack loses power"),
    ):
        head = "".join(f"<th>{h}</th>" for _, h in OUTCOME_HEADINGS)
        body = []
        for row in rows:
            extra = f" (rack {_e(row['rack'])})" if key == "broker_id" else f" (brokers {', '.join(map(str, row['broker_ids']))})"
            cells = "".join(f'<td class="n{" bad" if row[o] else ""}">{int(row[o])}</td>' for o, _ in OUTCOME_HEADINGS)
            body.append(f"<tr><td>{_e(row[key])}{extra}</td>{cells}</tr>")
        out.append(
            f'<table class="blast" data-table="{key}"><caption class="small">{title}: partitions that would be</caption>'
            f"<tr><th>{'broker' if key == 'broker_id' else 'rack'}</th>{head}</tr>{''.join(body)}</table>"
        )
    return "".join(out)


def _sources(status: Status) -> str:
    rows = []
    for r in status.targets:
        state = "up" if r.up else f"down: {_e(r.error or '')}"
        rows.append(f"<tr><td>{_e(r.source)}</td><td>{_e(r.target)}</td><td>{state}</td><td>{r.duration:.3f} s</td></tr>")
    return "<table><tr><th>source</th><th>target</th><th>status</th><th>duration</th></tr>" + "".join(rows) + "</table>"


def render_page(document: dict[str, Any] | None, status: Status, series: int, title: str = "", now: float | None = None) -> str:
    """The findings page: findings by pitfall, blast radius, data age and source status."""
    now = time.time() if now is None else now
    if status.finished:
        age = f"last collection {_ago(now - status.finished)} ago ({_e(_utc(status.finished))}), every {status.interval:g} s"
    else:
        age = "no collection finished yet"
    body: list[str] = []
    if document is None:
        body.append("<p>No findings yet: the first collection cycle has not finished.</p>")
        blast = ""
    else:
        counts = {s: 0 for s in ("critical", "warning", "info")}
        for group in document["groups"]:
            for f in group["findings"]:
                counts[f["severity"]] = counts.get(f["severity"], 0) + 1
        total = sum(counts.values())
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing at risk"
        body.append(f'<p class="summary"><b>{total} finding{"" if total == 1 else "s"}</b>: {summary}.</p>')
        for group in document["groups"]:
            findings = group["findings"]
            body.append(f'<section data-pitfall="{_e(group["pitfall"])}"><h2>{_e(group["title"])} ({len(findings)})</h2>')
            body.extend(_finding(f, now) for f in findings)
            if not findings:
                body.append('<p class="small">Nothing found.</p>')
            body.append("</section>")
        blast = f"<h2>Blast radius</h2>{_blast_radius(document.get('blast_radius'))}"
    cluster = f" · cluster <code>{_e(document['cluster_id'])}</code>" if document and document.get("cluster_id") else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Kafka findings · kafka-insight-exporter</title><style>{CSS}</style></head>
<body><header><h1>What is at risk in Kafka now</h1>
<div class="meta">kafka-insight-exporter {_e(__version__)}{cluster} · {age} · {series} series. {_e(title)}</div>
<nav class="small"><a href="/metrics">/metrics</a><a href="/findings.json">/findings.json</a><a href="/runbook">runbook</a><a href="/healthz">/healthz</a><a href="/readyz">/readyz</a></nav></header>
<main>{"".join(body)}{blast}<h2>Sources</h2>{_sources(status)}</main></body></html>
"""


def render_json(document: dict[str, Any] | None, status: Status) -> bytes:
    """``/findings.json``: the published document plus the cycle's finish time and interval."""
    if document is None:
        document = {"schema": "kafka-insight-findings/1", "exporter_version": __version__, "cluster_id": None,
                    "cycle_started": None, "groups": [], "blast_radius": None, "sources": []}  # fmt: skip
    full = {
        **document,
        "cycle_finished": status.finished or None,
        "collection_interval_seconds": status.interval,
        "ready": status.ready,
    }
    if not full.get("sources"):
        full["sources"] = [
            {"source": t.source, "target": t.target, "up": t.up, "error": t.error, "duration_seconds": round(t.duration, 3)}
            for t in status.targets
        ]
    return json.dumps(full, sort_keys=True, indent=1).encode()


@functools.cache
def runbook_page() -> bytes:
    """``/runbook``: the generated runbook page (read once)."""
    try:
        return RUNBOOK_HTML.read_bytes()
    except OSError:  # a broken install: say so instead of failing the request
        return b"<!doctype html><title>Runbook</title><p>The runbook page is missing from this installation; see docs/runbook.md."

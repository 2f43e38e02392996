"""The runbook as one HTML page (``/runbook``), so the findings page links resolve offline.

Generated with the alerts by ``python -m exporter.mixin.generate`` into
``exporter/runbook.html`` (committed, shipped in the package): the same text as
``docs/runbook.md``. Not rendered at run time: importing the mixin (grafanalib) costs about
a second of GIL, which delayed collection cycles past their timeout.
"""

from __future__ import annotations

import html
import re

from exporter.mixin.alerts import all_alerts
from exporter.mixin.settings import Settings

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_ITALIC = re.compile(r"\*([^*]+)\*")


def _inline(text: str) -> str:
    escaped = html.escape(text)
    escaped = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)
    escaped = _BOLD.sub(lambda m: f"<b>{m.group(1)}</b>", escaped)
    return _ITALIC.sub(lambda m: f"<i>{m.group(1)}</i>", escaped)


def render_runbook(settings: Settings) -> str:
    sections = []
    alerts = all_alerts(settings)
    for alert in alerts:
        sections.append(
            f'<section id="{html.escape(alert.anchor)}"><h2>{html.escape(alert.name)} '
            f"<small>({html.escape(alert.severity)})</small></h2><p><i>{_inline(alert.summary)}</i></p>"
            f"<p><b>What it means.</b> {_inline(alert.runbook.meaning)}</p>"
            f"<p><b>How to confirm.</b> {_inline(alert.runbook.confirm)}</p>"
            f"<p><b>What to do.</b> {_inline(alert.runbook.action)}</p></section>"
        )
    toc = "".join(f'<li><a href="#{html.escape(a.anchor)}">{html.escape(a.name)}</a></li>' for a in alerts)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Runbook · kafka-insight-exporter</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:.8rem;line-height:1.45}}
code{{background:#eee;padding:0 .2rem}}section{{border-top:1px solid #ccc;margin-top:1rem}}h2{{font-size:1.15rem}}</style></head>
<body><h1>Runbook</h1><p><a href="/">Back to the findings</a> · one section per alert; the findings page links here.</p>
<ul>{toc}</ul>{"".join(sections)}</body></html>
"""

"""Generated parts of the README: the configuration reference and the metric list.

``python -m exporter.docs`` rewrites them in place; ``--check`` exits 1 when they are stale
(a test runs the check, so the README never drifts from the code).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from exporter import config
from exporter.catalogue import all_specs
from exporter.features import feature_of_module
from exporter.metrics import declared_by

README = Path(__file__).resolve().parent.parent / "README.md"


def metrics_table() -> str:
    rows = ["| metric | type | labels | feature | meaning |", "|---|---|---|---|---|"]
    for spec in all_specs().values():
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "—"
        feature = feature_of_module(declared_by(spec.name))
        name = feature.name if feature is not None else "?"
        rows.append(f"| `{spec.name}` | {spec.type} | {labels} | {name} | {spec.help.replace('|', '/')} |")
    return "\n".join(rows)


def config_table() -> str:
    return "\n".join(["| option | kind | default | meaning |", "|---|---|---|---|", *config.reference()])


def render(text: str) -> str:
    for marker, body in (("config-reference", config_table()), ("metrics", metrics_table())):
        pattern = re.compile(rf"(<!-- {marker}:start -->\n).*?(<!-- {marker}:end -->)", re.S)
        if not pattern.search(text):
            raise ValueError(f"README has no <!-- {marker}:start/end --> markers")
        text = pattern.sub(lambda m, body=body: f"{m.group(1)}{body}\n{m.group(2)}", text)  # type: ignore[misc]
    return text


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    current = README.read_text()
    fresh = render(current)
    if "--check" in args:
        if fresh != current:
            print("README.md: generated sections are stale; run python -m exporter.docs", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

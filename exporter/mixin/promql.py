"""PromQL helpers: selectors built from catalogue specs, and a checker for finished queries.

Queries are written with :func:`sel`, which only accepts a :class:`MetricSpec`, so a metric
name never appears as free text.  :func:`metric_names` tokenizes a finished expression
(including Grafana variables) and returns every metric name in it; the tests compare that
with :func:`exporter.catalogue.all_specs`.
"""

from __future__ import annotations

import re

from exporter.catalogue import MetricSpec, all_specs, series_specs

#: series that Prometheus itself creates for every scrape target (not in our catalogue)
PROMETHEUS_SERIES = frozenset({"up", "ALERTS"})

_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "offset", "bool", "inf", "nan"}
)
_LABEL_LIST_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_TOKEN_RE = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
      |(?P<braces>\{[^}]*\})
      |(?P<range>\[[^\]]*\])
      |(?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?(?:ms|s|m|h|d|w|y)?)
      |(?P<var>\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)
      |(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
      |(?P<lparen>\()
      |(?P<other>\S)""",
    re.VERBOSE,
)


_LABEL_VALUES_RE = re.compile(r"^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$", re.DOTALL)


_NAME_MATCHER_RE = re.compile(r'__name__\s*=~?\s*"([^"]*)"')


def spec(name: str) -> MetricSpec:
    """A catalogue spec by its exposed name, for specs declared in tables rather than as
    module constants; an unknown name fails generation at once."""
    found = all_specs().get(name)
    if found is None:
        raise KeyError(f"{name} is not in the metric catalogue (exporter.catalogue.all_specs())")
    return found


def sel(spec: MetricSpec, job: str, *matchers: str) -> str:
    """``name{job selector, matchers...}`` for a catalogue spec."""
    inner = ", ".join(m for m in (job, *matchers) if m)
    return f"{spec.name}{{{inner}}}"


def metric_names(expr: str) -> set[str]:
    """Metric names used in a PromQL expression (function names, keywords, label names,
    strings, ranges and Grafana variables are skipped).  Grafana's
    ``label_values(selector, label)`` variable queries are understood too."""
    variable_query = _LABEL_VALUES_RE.match(expr)
    if variable_query:
        expr = variable_query.group(1)
    names: set[str] = set()
    for alternatives in _NAME_MATCHER_RE.findall(expr):
        names.update(alternatives.split("|"))
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN_RE.finditer(expr)]
    skip_label_list = False
    for i, (kind, text) in enumerate(tokens):
        if kind == "lparen":
            if skip_label_list:
                # everything up to the matching ")" is a list of label names
                depth = 0
                for j in range(i, len(tokens)):
                    if tokens[j][0] == "lparen":
                        depth += 1
                    elif tokens[j][1] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                for j in range(i + 1, len(tokens)):
                    if tokens[j][1] == ")":
                        break
                    tokens[j] = ("label", tokens[j][1])
            skip_label_list = False
            continue
        skip_label_list = False
        if kind != "ident":
            continue
        lowered = text.lower()
        if lowered in _LABEL_LIST_KEYWORDS:
            skip_label_list = True
            continue
        if lowered in _KEYWORDS:
            continue
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if following[0] == "lparen" or following[1].lower() in ("by", "without"):
            continue  # a function or an aggregation (``sum by (x) (...)``)
        names.add(text)
    return names


def unknown_metrics(expr: str, known: set[str] | None = None) -> set[str]:
    """Names in ``expr`` that are neither in the catalogue nor series Prometheus makes."""
    catalogue = set(series_specs()) if known is None else known
    return {n for n in metric_names(expr) if n not in catalogue and n not in PROMETHEUS_SERIES}


_RATE_RE = re.compile(r"\b(rate|irate|increase|resets)\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")
_GAUGE_FN_RE = re.compile(r"\b(deriv|delta|idelta|predict_linear)\s*\(\s*([A-Za-z_:][A-Za-z0-9_:]*)")


def type_errors(expr: str) -> list[str]:
    """Counter functions on gauges and gauge functions on counters, by catalogue type (a
    histogram's series are counters)."""
    specs = series_specs()
    problems = []
    for fn, name in _RATE_RE.findall(expr):
        spec = specs.get(name)
        if spec is not None and spec.type == "gauge":
            problems.append(f"{fn}() on gauge {name}")
    for fn, name in _GAUGE_FN_RE.findall(expr):
        spec = specs.get(name)
        if spec is not None and spec.type != "gauge":
            problems.append(f"{fn}() on counter {name}")
    return problems

"""JMX rows: what jmxquery (or a recorded dump) returns, and the parsing both JMX sources share.

Both JMX sources (``broker_jmx``, ``client_jmx``) read MBeans with jmxquery as rows of
``(mbean, attribute, value)``; the recorded dumps in ``tests/fixtures/jmx-*.json`` hold
the same rows.  :func:`parse_broker` and :func:`parse_client_target` turn such rows into
the records below; they do no I/O, so the mapping is tested on the recorded dumps.

What the interpretation layer reads from a :class:`~exporter.snapshot.Snapshot`:

* ``snapshot.broker_jmx`` -> ``list[BrokerJmx]``, one per broker JMX target
  that answered this cycle.
* ``snapshot.client_jmx`` -> ``list[ClientJmxTarget]``, one per Java client JVM
  that answered; each holds ``clients: list[ClientJmx]`` (one JVM can hold several
  producers and consumers, e.g. a Kafka Connect worker).  :func:`client_records` flattens
  them to ``list[ClientJmx]``.

Units: every value is a float already coerced by :func:`exporter.metrics.to_float` (the
one place foreign values become numbers); times are converted from Kafka's milliseconds to
seconds (fields ending in ``_seconds``); a value that JMX reported as NaN, Infinity, a
non-number or not at all is ``None`` -- never NaN, so a derived value cannot be poisoned.
NaN/Infinity are normal (a windowed client average with no sample in the window) and are
only counted in ``dropped``; a non-numeric string where a number belongs is also listed in
``errors`` (it means the target or our mapping is wrong).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from exporter.metrics import to_float


@dataclass(frozen=True)
class JmxRow:
    """One attribute of one MBean, exactly as the JVM reported it."""

    mbean: str
    #: attribute name; a composite attribute's key is appended with '/' (``HeapMemoryUsage/used``)
    attribute: str
    value: object
    #: JMXQuery's type name (``Double``, ``Long``, ``String``, ...); informational
    value_type: str = ""


def rows_from_dump(doc: Mapping[str, Any]) -> list[JmxRow]:
    """Rows of a recorded dump (``format: kafka-insight-fixture/jmx-dump/1``)."""
    rows = []
    for m in doc.get("mbeans") or []:
        for attribute, (value, value_type) in m["attributes"].items():
            rows.append(JmxRow(m["mbean"], attribute, value, value_type))
    return rows


def load_dump(path: str | Path) -> list[JmxRow]:
    """Rows of a recorded dump file."""
    return rows_from_dump(json.loads(Path(path).read_text()))


def rows_from_jmxquery(results: Iterable[Any]) -> list[JmxRow]:
    """Rows of jmxquery results (``JMXQuery`` objects or the jar's JSON dicts)."""
    rows = []
    for r in results:
        if isinstance(r, Mapping):
            mbean, attribute, key = r.get("mBeanName"), r.get("attribute"), r.get("attributeKey")
            value, value_type = r.get("value"), r.get("attributeType", "")
        else:
            mbean, attribute, key = r.mBeanName, r.attribute, r.attributeKey
            value, value_type = r.value, r.value_type or ""
        if not mbean or not attribute:
            continue
        rows.append(JmxRow(str(mbean), f"{attribute}/{key}" if key else str(attribute), value, str(value_type or "")))
    return rows


@functools.lru_cache(maxsize=1 << 16)
def parse_object_name(name: str) -> tuple[str, Mapping[str, str]]:
    """``domain:k=v,k2="v,2"`` -> (domain, {k: v}); quoted values are unquoted.

    Cached: a target's MBean names are the same every cycle, and parsing every row's name
    again was a sixth of the parent's work per broker target (issue 17).  The properties are
    shared between callers, so they are read-only."""
    domain, _, rest = name.partition(":")
    props: dict[str, str] = {}
    i, n = 0, len(rest)
    while i < n:
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq]
        j = eq + 1
        if j < n and rest[j] == '"':
            j += 1
            buf = []
            while j < n and rest[j] != '"':
                if rest[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(rest[j])
                j += 1
            value = "".join(buf)
            j += 1  # closing quote
            comma = rest.find(",", j)
        else:
            comma = rest.find(",", j)
            value = rest[j : comma if comma >= 0 else n]
        props[key] = value
        if comma < 0:
            break
        i = comma + 1
    return domain, MappingProxyType(props)


class Values:
    """Coerces row values to floats, counting what it drops (one place: to_float)."""

    def __init__(self) -> None:
        self.dropped = 0
        self.errors: list[str] = []

    def num(self, row: JmxRow) -> float | None:
        number = to_float(row.value)
        if number is None:
            self.dropped += 1
            if not is_nonfinite_marker(row.value):
                self.errors.append(f"{row.mbean} {row.attribute}: not a number: {str(row.value)[:60]!r}")
        return number

    def ms(self, row: JmxRow) -> float | None:
        number = self.num(row)
        return None if number is None else number / 1000.0


def is_id(text: str) -> bool:
    """A broker id or partition number int() can read (MBean names are foreign data: no '²')."""
    return text.isascii() and text.isdigit() and len(text) <= 10


def is_nonfinite_marker(value: object) -> bool:
    if value is None:
        return True  # JMXQuery's Null type: nothing to report
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, str):
        return value.strip().lower() in ("nan", "infinity", "-infinity", "+infinity", "inf", "-inf")
    return False

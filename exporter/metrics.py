"""Metric families and samples: declaring a family once, collecting a cycle's values.

Modules that emit metrics declare their specs at import time with :func:`metric`; the
specs live beside the code that fills them.  Which modules those are is said once, in the
feature table (:mod:`exporter.features`); :mod:`exporter.catalogue` imports them all.
This module imports nothing of the exporter: everything that declares or emits sits above it.
"""

from __future__ import annotations

import math
import re
import sys
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import itemgetter
from types import TracebackType
from typing import Literal, overload

PREFIX = "kafka_insight_"
MetricType = Literal["gauge", "counter", "summary", "histogram"]
#: the ``quantile`` label value that marks a summary family's ``_sum`` / ``_count`` rows: a
#: summary is one spec whose last label is ``quantile``; its rows with these values are
#: exposed as ``<name>_sum`` / ``<name>_count`` without the quantile label
SUMMARY_SUM = "_sum"
SUMMARY_COUNT = "_count"
#: the series a histogram family exposes, in prometheus_client's order per label set
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")
_NAME_RE = re.compile(r"^kafka_insight_[a-z][a-z0-9_]*$")
_LABEL_RE = re.compile(r"^[a-z][a-z0-9_]*$")

@dataclass(frozen=True)
class MetricSpec:
    """One metric family.  ``name`` is the exposed name (counters include ``_total``; a
    histogram's series are ``name`` + ``_bucket``/``_count``/``_sum``, see :meth:`part`)."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...] = ()
    unit: str = ""
    #: which source or layer emits it (``admin``, ``broker_jmx``, ``interpret``, ``self``)
    source: str = ""

    def __post_init__(self) -> None:
        # Samples keys a dict by spec on every add: hash the fields once, not per lookup
        object.__setattr__(self, "_hash", hash((self.name, self.type, self.help, self.labels, self.unit, self.source)))

    def __hash__(self) -> int:
        return self._hash  # type: ignore[attr-defined,no-any-return]

    @property
    def family_name(self) -> str:
        """Name handed to prometheus_client, which appends ``_total`` to counters itself."""
        if self.type == "counter":
            return self.name[: -len("_total")]
        return self.name

    @property
    def series_names(self) -> tuple[str, ...]:
        """The sample names the family exposes (a histogram's three, a summary's name, _sum and
        _count, else its name)."""
        if self.type == "histogram":
            return tuple(self.name + suffix for suffix in HISTOGRAM_SUFFIXES)
        if self.type == "summary":
            return (self.name, self.name + SUMMARY_SUM, self.name + SUMMARY_COUNT)
        return (self.name,)

    def part(self, suffix: str) -> MetricSpec:
        """One series of a histogram as a counter-like spec, for PromQL selectors:
        ``spec.part("_bucket")`` (labels + ``le``), ``"_count"``, ``"_sum"``.  Not declared:
        the catalogue holds the histogram."""
        if self.type != "histogram" or suffix not in HISTOGRAM_SUFFIXES:
            raise ValueError(f"{self.name}: part({suffix!r}) is only for histograms ({HISTOGRAM_SUFFIXES})")
        labels = (*self.labels, "le") if suffix == "_bucket" else self.labels
        return MetricSpec(self.name + suffix, "counter", self.help, labels, self.unit if suffix == "_sum" else "", self.source)


_DECLARED: dict[str, MetricSpec] = {}
#: metric name -> the module that declared it (the feature table says whose it is)
_DECLARED_BY: dict[str, str] = {}


def metric(
    name: str,
    type: MetricType,
    help: str,
    labels: Iterable[str] = (),
    *,
    unit: str = "",
    source: str = "",
) -> MetricSpec:
    """Declare a metric family and register it in the catalogue."""
    spec = MetricSpec(name, type, " ".join(help.split()), tuple(labels), unit, source)
    _check(spec)
    existing = _DECLARED.get(name)
    if existing is not None and existing != spec:
        raise ValueError(f"metric {name} declared twice with different specs")
    _DECLARED[name] = spec
    # the module whose code called metric() (directly or through a helper defined there)
    _DECLARED_BY.setdefault(name, str(sys._getframe(1).f_globals.get("__name__", "")))
    return spec


def _check(spec: MetricSpec) -> None:
    if not _NAME_RE.match(spec.name):
        raise ValueError(f"{spec.name}: metric names start with {PREFIX} and are snake_case")
    if (spec.type == "counter") != spec.name.endswith("_total"):
        raise ValueError(f"{spec.name}: counters, and only counters, end in _total")
    if (spec.type == "summary") != (spec.labels[-1:] == ("quantile",)) or spec.labels.count("quantile") > 1:
        raise ValueError(f"{spec.name}: summaries, and only summaries, have a quantile label (their last)")
    if spec.type == "histogram" and (spec.name.endswith(HISTOGRAM_SUFFIXES) or "le" in spec.labels):
        raise ValueError(f"{spec.name}: a histogram is named without _bucket/_count/_sum and has no le label")
    for suffix, unit in (("_seconds", "seconds"), ("_bytes", "bytes"), ("_ratio", "ratio")):
        base = spec.name.removesuffix("_total")
        if base.endswith(suffix) and spec.unit != unit:
            raise ValueError(f"{spec.name}: name ends in {suffix} but unit is {spec.unit!r}")
    for label in spec.labels:
        if not _LABEL_RE.match(label) or label in ("cluster", "type", "job", "instance"):
            raise ValueError(f"{spec.name}: bad label name {label!r}")
    if not spec.help or len(spec.help) < 20:
        raise ValueError(f"{spec.name}: HELP must say what the value means")


def declared() -> dict[str, MetricSpec]:
    """Every spec declared so far (by the modules imported so far), by name."""
    return dict(_DECLARED)


def declared_by(name: str) -> str:
    """The module that declared the metric ``name``."""
    return _DECLARED_BY[name]


def to_float(value: object) -> float | None:
    """Coerce a value from outside (JMX, Admin API, client stats) to a finite float.

    The one place where foreign values become numbers: anything that is not a finite
    number (None, NaN, inf, non-numeric strings) becomes ``None`` and is dropped.
    """
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond 1e308
            return None
    elif isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "false"):
            return 1.0 if text == "true" else 0.0
        if not text.isascii():  # float() also reads '١٢' (Arabic-Indic digits)
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _le(bound: float) -> str:
    """An ``le`` label value as Prometheus' clients write it (``0.005``, ``1.0``, ``+Inf``)."""
    if bound == math.inf:
        return "+Inf"
    return repr(float(bound))


#: the label values and the number of a sample row ``(labels, value)`` (Samples, Row)
row_labels = itemgetter(0)
row_value = itemgetter(1)


class Rows:
    """The samples of one family as two columns: label values and numbers.

    Reads like the list of ``(label values, number)`` rows it replaces (iteration, ``len``,
    indexing, slices, ``==`` with such a list), but holds 16 bytes a row instead of ~90
    (a tuple and a float object each): at 50k partitions / 5k groups a cycle holds over a
    million rows until they are rendered."""

    __slots__ = ("labels", "values")

    def __init__(self, labels: list[tuple[str, ...]] | None = None, values: array[float] | None = None) -> None:
        self.labels: list[tuple[str, ...]] = labels if labels is not None else []
        self.values: array[float] = values if values is not None else array("d")

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self) -> Iterator[tuple[tuple[str, ...], float]]:
        return zip(self.labels, self.values, strict=True)

    @overload
    def __getitem__(self, index: int) -> tuple[tuple[str, ...], float]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[tuple[str, ...], float]]: ...
    def __getitem__(self, index: int | slice) -> tuple[tuple[str, ...], float] | list[tuple[tuple[str, ...], float]]:
        if isinstance(index, slice):
            return list(zip(self.labels[index], self.values[index], strict=True))
        return self.labels[index], self.values[index]

    def append(self, row: tuple[tuple[str, ...], float]) -> None:
        labels, number = row
        self.labels.append(labels)
        self.values.append(number)

    def extend(self, rows: Iterable[tuple[tuple[str, ...], float]]) -> None:
        if isinstance(rows, Rows):
            self.labels += rows.labels
            self.values += rows.values
            return
        for labels, number in rows:
            self.labels.append(labels)
            self.values.append(number)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Rows, list)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like the list it replaces

    def __repr__(self) -> str:
        return f"Rows({list(self)!r})"


@dataclass(frozen=True)
class RenderedBlock:
    """Families rendered elsewhere (the Admin-API worker process renders its own families
    while the collector interprets): complete text-format lines, HELP and TYPE included."""

    #: bytes, or the bytearray a frame was read into (exporter.ipc; served as it is, no copy)
    text: bytes | bytearray
    series: int
    #: families in the block (exposed names), for checks and tests
    names: tuple[str, ...]
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass
class Samples:
    """The samples of one cycle, grouped by spec, in insertion order.

    Pre-rendered blocks (:meth:`add_block`) come before all families in the exposition.
    A block is added as a callable, resolved (:meth:`resolve_blocks`) as late as possible so
    that whoever renders it works in parallel with the rest of the cycle."""

    by_spec: dict[MetricSpec, Rows] = field(default_factory=dict)
    #: values that could not be coerced, per source
    dropped: dict[str, int] = field(default_factory=dict)
    blocks: list[RenderedBlock] = field(default_factory=list)
    _pending: list[Callable[[], RenderedBlock | None]] = field(default_factory=list)

    def add_block(self, resolve: Callable[[], RenderedBlock | None]) -> None:
        """``resolve`` returns the block, or None after adding the families itself (its
        fallback when the block cannot come: they are then rendered here, after the others)."""
        self._pending.append(resolve)

    def resolve_blocks(self) -> None:
        pending, self._pending = self._pending, []
        for resolve in pending:
            block = resolve()
            if block is not None:
                self.blocks.append(block)
                for source, count in block.dropped.items():
                    self.dropped[source] = self.dropped.get(source, 0) + count

    def add(self, spec: MetricSpec, value: object, *labels: object) -> None:
        # called ~300k times a cycle at 10k partitions: plain ints and floats skip to_float
        kind = type(value)
        number: float | None
        if kind is float or kind is int:
            try:
                number = float(value)  # type: ignore[arg-type]
            except OverflowError:  # an int beyond 1e308
                number = None
            else:
                if number - number != 0.0:  # NaN or infinite, as in to_float
                    number = None
        else:
            number = to_float(value)
        if number is None:
            self.dropped[spec.source] = self.dropped.get(spec.source, 0) + 1
            return
        if len(labels) != len(spec.labels):
            raise ValueError(f"{spec.name}: expected labels {spec.labels}, got {labels!r}")
        rows = self.by_spec.get(spec)
        if rows is None:
            rows = self.by_spec[spec] = Rows()
        rows.append((tuple(map(str, labels)), number))

    def extend(self, spec: MetricSpec, rows: Iterable[tuple[tuple[str, ...], float | int]]) -> None:
        """Bulk :meth:`add` for hot loops (tens of thousands of rows per family).

        Rows are ``(label values, number)`` with label values already ``str`` and numbers
        plain ``int``/``float`` (values from outside go through :meth:`add`/:func:`to_float`).
        C-level passes instead of a method call per row: ~5x cheaper per sample. NaN and
        infinities are dropped and counted as in :meth:`add`; a wrong label count raises.
        Like :meth:`add`, it creates the family only with its first kept row.
        """
        if isinstance(rows, Rows):
            self.extend_columns(spec, list(rows.labels), rows.values)
            return
        rows = rows if isinstance(rows, list) else list(rows)
        if rows:
            self.extend_columns(spec, list(map(row_labels, rows)), list(map(row_value, rows)))

    def extend_columns(self, spec: MetricSpec, labels: list[tuple[str, ...]], values: Sequence[float | int]) -> None:
        """:meth:`extend` with the rows as two columns (``labels`` is kept, not copied)."""
        if not labels:
            return
        # C-level map/sum instead of per-row Python: ~0.1 us per row instead of ~0.5
        width = len(spec.labels)
        if set(map(len, labels)) != {width}:
            bad = next(v for v in labels if len(v) != width)
            raise ValueError(f"{spec.name}: expected labels {spec.labels}, got {bad!r}")
        try:
            numbers = array("d", map(float, values))
        except (OverflowError, TypeError, ValueError):  # something unusual: the careful path
            for label_values, value in zip(labels, values, strict=True):
                self.add(spec, value, *label_values)
            return
        total = sum(numbers)
        if total - total != 0.0:  # a NaN or an infinity among them (or finite values too big to add up)
            finite = [number - number == 0.0 for number in numbers]
            kept = sum(finite)
            if kept != len(numbers):
                self.dropped[spec.source] = self.dropped.get(spec.source, 0) + len(numbers) - kept
                labels = list(compress(labels, finite))
                numbers = array("d", compress(numbers, finite))
        if not labels:
            return  # as with add: no sample, no family (declare() is for that)
        existing = self.by_spec.get(spec)
        if existing is None:
            self.by_spec[spec] = Rows(labels, numbers)
        else:
            existing.labels += labels
            existing.values += numbers

    def add_histogram(self, spec: MetricSpec, labels: Sequence[object], buckets: Sequence[tuple[float, int]], total: float) -> None:
        """One histogram series set: ``buckets`` are (upper bound, CUMULATIVE count) in rising
        order ending with +Inf (whose count is ``_count``), ``total`` the sum of observations.

        Kept as rows whose label values end with the series suffix and ``le`` (``""`` for
        ``_count``/``_sum``), in the order prometheus_client's HistogramMetricFamily writes them."""
        if spec.type != "histogram":
            raise ValueError(f"{spec.name}: add_histogram() on a {spec.type}")
        if len(labels) != len(spec.labels):
            raise ValueError(f"{spec.name}: expected labels {spec.labels}, got {tuple(labels)!r}")
        if not buckets or buckets[-1][0] != math.inf:
            raise ValueError(f"{spec.name}: histogram buckets must end with +Inf")
        values = tuple(map(str, labels))
        rows = [((*values, "_bucket", _le(bound)), float(count)) for bound, count in buckets]
        rows.append(((*values, "_count", ""), float(buckets[-1][1])))
        rows.append(((*values, "_sum", ""), float(total)))
        if any(row[1] - row[1] != 0.0 for row in rows):  # NaN or infinite: the set is dropped whole
            self.dropped[spec.source] = self.dropped.get(spec.source, 0) + 1
            return
        self.by_spec.setdefault(spec, Rows()).extend(rows)

    def merge(self, other: Samples) -> None:
        """Add ``other``'s families (declared empty ones too) in its order, and its dropped
        counts.  Its rows are taken over, not copied: ``other`` is not to be added to after."""
        if other.blocks or other._pending:
            raise ValueError("Samples.merge: blocks are not merged")
        for spec, rows in other.by_spec.items():
            existing = self.by_spec.get(spec)
            if existing is None:
                self.by_spec[spec] = rows
            else:
                existing.extend(rows)
        for source, count in other.dropped.items():
            self.dropped[source] = self.dropped.get(source, 0) + count

    def declare(self, spec: MetricSpec) -> None:
        """Make the family present even with no samples (HELP/TYPE still exposed)."""
        self.by_spec.setdefault(spec, Rows())

    def get(self, name: str, **labels: str) -> float | None:
        """Test helper: the value of one sample, by exposed name and labels."""
        for spec, rows in self.by_spec.items():
            if spec.type == "histogram" and name in spec.series_names:
                suffix, le = name[len(spec.name) :], labels.pop("le", "")
                for values, number in rows:
                    if values[-2:] == (suffix, le) and dict(zip(spec.labels, values, strict=False)) == labels:
                        return number
                return None
            if spec.name != name:
                continue
            for values, number in rows:
                if dict(zip(spec.labels, values, strict=True)) == labels:
                    return number
        return None

    def __iter__(self) -> Iterator[tuple[MetricSpec, Rows]]:
        return iter(self.by_spec.items())

    def series_count(self) -> int:
        return sum(len(rows) for rows in self.by_spec.values()) + sum(b.series for b in self.blocks)


#: one sample for :meth:`Samples.extend`: (label values, number)
Row = tuple[tuple[str, ...], float | int]


class Batch:
    """Rows of hot families gathered over a loop, handed to :meth:`Samples.extend` in few calls.

    Emitting per chunk (a topic's partitions, a group's partitions) through a batch gives the
    same families, family order and row order as one :meth:`Samples.add` per row: a family
    takes its place in ``out`` with its first rows, exactly where the first ``add`` would have
    put it; later rows are held and appended when the batch is closed (``with`` block end).
    Only use it for families nothing else adds to while the batch is open.
    """

    __slots__ = ("held", "out")

    def __init__(self, out: Samples) -> None:
        self.out = out
        #: rows waiting for close(), per family already placed in ``out``: as two columns
        #: (label values, numbers), not as the chunks' row tuples (~60 bytes a row fewer)
        self.held: dict[MetricSpec, tuple[list[tuple[str, ...]], list[float | int]]] = {}

    def extend(self, spec: MetricSpec, rows: list[Row]) -> None:
        if not rows:
            return
        held = self.held.get(spec)
        if held is not None:
            held[0].extend(map(row_labels, rows))
            held[1].extend(map(row_value, rows))
            return
        self.out.extend(spec, rows)
        if spec in self.out.by_spec:  # placed (unless every row was dropped)
            self.held[spec] = ([], [])

    def extend_units(self, keys: Sequence[tuple[str, ...]], families: Iterable[tuple[MetricSpec, list[Row]]]) -> None:
        """One chunk of per-unit families: ``keys`` are the units' label values in loop order,
        ``families`` come in the order one unit would add them, their rows labelled with
        ``keys`` entries.  A family new to ``out`` is placed as per-row adds over the units
        would have placed it: by the first unit that has a row, then by that order."""
        new = []
        for spec, rows in families:
            if rows:
                held = self.held.get(spec)
                if held is None:
                    new.append((spec, rows))
                else:
                    held[0].extend(map(row_labels, rows))
                    held[1].extend(map(row_value, rows))
        if len(new) > 1:
            first = keys[0]
            new.sort(key=lambda family: 0 if family[1][0][0] == first else keys.index(family[1][0][0]))  # stable
        for spec, rows in new:
            self.extend(spec, rows)

    def close(self) -> None:
        held, self.held = self.held, {}
        for spec, (labels, values) in held.items():
            self.out.extend_columns(spec, labels, values)

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()  # also on an exception: what was gathered stays, as with add

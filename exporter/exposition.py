"""Samples -> Prometheus text exposition, rendered once per cycle and served from memory."""

from __future__ import annotations

import gzip
import io
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import add, itemgetter
from queue import Queue
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from exporter.metrics import SUMMARY_COUNT, SUMMARY_SUM, MetricSpec, Rows, Samples, row_value

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: gzip level of the pre-compressed body.  Deflate is what render waits for (rendering
#: outruns it, see DEFLATE_QUEUE): on the 10k-partition / 500-group exposition (25.6 MB of
#: text) level 5 took 0.16-0.18 s of CPU for 0.92 MB, level 1 0.05-0.07 s for 1.04 MB (+14 %)
GZIP_LEVEL = 1
#: rows rendered per C-level call: each call holds the GIL throughout (~1 us per row), so
#: slices keep /metrics answering while a big family (25k+ series) renders
RENDER_SLICE = 1024
#: bytes of rendered text handed to the compressor thread at a time
DEFLATE_BATCH = 256 * 1024
#: batches waiting for the compressor at most: rendering (~1 us per series) outruns deflate,
#: and with an unbounded queue most of the text waited there at once (~70 MB of 130 MB at
#: 50k partitions / 5k groups); bounded, the text held is a few MB whatever the size
DEFLATE_QUEUE = 8
#: bytes of label text kept between cycles by the collector's :class:`LabelCache`.  The
#: families rendered in the collector take 17 MB at 10k partitions / 500 groups (~145k
#: series): 16 MB covers 94 % of them.  At 50k partitions / 5k groups, where every MB counts
#: (after-cycle RSS <= 500 MB, issue 20), 24 MB put the after-cycle RSS at 491-502 MB
LABEL_CACHE_BYTES = 16 * 1024 * 1024
#: series above which :func:`prerender` renders nothing ahead: their text is held until the
#: cycle's render.  The prepared families are 81k series (6.3 MB) at 10k partitions, where
#: rendering them ahead takes 0.035-0.045 s off the render; at 50k partitions / 5k groups
#: (~400k series) it raised the collector's peak RSS by 22-36 MB (all of them, or the first
#: 16 MB), where memory is the target and the gain is a small part of a 16-20 s cycle
#: (docs/benchmarks.md, sixth round)
PRERENDER_SERIES = 150_000


class Exposition:
    """One cycle's rendered text, gzipped, and its series count.

    The plain text (30+ MB at 10k partitions / 500 groups) need not be kept
    (``render(..., keep_body=False)``): the command line keeps only the gzip copy (~1 MB), which is
    what Prometheus asks for; a plain-text scrape is then decompressed on the fly in
    chunks (:meth:`body_chunks`), and :attr:`body` decompresses it whole when asked.
    """

    __slots__ = ("_body", "body_length", "gzipped", "series")

    def __init__(self, body: bytes | None, gzipped: bytes, series: int, body_length: int | None = None) -> None:
        self._body = body
        self.gzipped = gzipped
        self.series = series
        self.body_length = len(body) if body is not None else (body_length or 0)

    @property
    def body(self) -> bytes:
        if self._body is not None:
            return self._body
        return gzip.decompress(self.gzipped) if self.gzipped else b""

    @property
    def has_body(self) -> bool:
        return self._body is not None

    def body_chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        """The plain text in pieces of at most ``size`` bytes, never all of it at once."""
        if self._body is not None:
            view = memoryview(self._body)
            for i in range(0, len(view), size):
                yield bytes(view[i : i + size])
            return
        inflater = zlib.decompressobj(wbits=31)  # gzip framing
        data = self.gzipped
        while data:
            chunk = inflater.decompress(data, size)
            data = inflater.unconsumed_tail
            if chunk:
                yield chunk
            elif not data:
                break
        rest = inflater.flush()
        if rest:
            yield rest


class SamplesCollector(Collector):  # type: ignore[misc]
    """A custom collector over one cycle's samples (never touches Kafka)."""

    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for spec, rows in self.samples:
            family: Metric
            if spec.type == "summary":
                family = Metric(spec.name, spec.help, "summary")
                for values, number in rows:
                    *others, quantile = values
                    labels = dict(zip(spec.labels, others, strict=False))
                    if quantile in (SUMMARY_SUM, SUMMARY_COUNT):
                        family.add_sample(spec.name + quantile, labels, number)
                    else:
                        family.add_sample(spec.name, {**labels, "quantile": quantile}, number)
                yield family
                continue
            if spec.type == "histogram":
                yield _histogram_family(spec, rows)
                continue
            if spec.type == "counter":
                family = CounterMetricFamily(spec.family_name, spec.help, labels=spec.labels)
            else:
                family = GaugeMetricFamily(spec.family_name, spec.help, labels=spec.labels)
            for values, number in rows:
                family.add_metric(list(values), number)
            yield family


def _histogram_family(spec: MetricSpec, rows: Rows) -> HistogramMetricFamily:
    family = HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
    width = len(spec.labels)
    sets: dict[tuple[str, ...], tuple[list[tuple[str, float]], list[float]]] = {}
    for values, number in rows:
        buckets, total = sets.setdefault(values[:width], ([], []))
        if values[width] == "_bucket":
            buckets.append((values[width + 1], number))
        elif values[width] == "_sum":
            total.append(number)
    for labels, (buckets, total) in sets.items():
        family.add_metric(list(labels), buckets, total[0])
    return family


def _histogram_text(spec: MetricSpec, rows: Rows) -> str:
    """A histogram's samples as generate_latest writes them (labels sorted by name, ``le`` among
    them).  Histograms are few (the canary's latencies): no fast path needed."""
    width = len(spec.labels)
    lines = []
    for values, number in rows:
        suffix, le = values[width], values[width + 1]
        labels = dict(zip(spec.labels, _escape_row(values[:width]), strict=True))
        if suffix == "_bucket":
            labels["le"] = le
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        lines.append(f"{spec.name}{suffix}{{{inner}}} {_number(number)}\n" if inner else f"{spec.name}{suffix} {_number(number)}\n")
    return "".join(lines)


def _placeholder(_value: float) -> str:
    return "\x00"


class LabelCache:
    """The label part of each slice of a family's text, kept from one cycle to the next.

    Most series keep their labels from cycle to cycle (a partition, a group's partition):
    only their values change.  A slice of rows whose labels are the ones seen last cycle at
    the same place of the same family is rendered from a template of its text with ``%r``
    where the values go: one C-level ``%`` over the values instead of formatting every
    label set again.  At 10k partitions / 500 groups the collector's render fell from
    0.20-0.43 s to 0.13-0.14 s a cycle (docs/benchmarks.md).  Slices are recognised by the
    family, their position, their length and a hash of their label tuples (a 64-bit hash:
    two different label lists of one slice colliding is as likely as a random 2^-64
    event).  Templates are made until their size reaches ``budget`` (the first slices
    rendered take it; the others render as before), and slices not rendered in a cycle are
    forgotten after it.
    """

    __slots__ = ("_used", "budget", "entries", "hits", "size")

    def __init__(self, budget: int = LABEL_CACHE_BYTES) -> None:
        self.budget = budget
        #: (family, first row) -> (rows, hash of their label tuples, template)
        self.entries: dict[tuple[str, int], tuple[int, int, str]] = {}
        self.size = 0
        self.hits = 0
        self._used: set[tuple[str, int]] = set()

    def text(
        self, key: tuple[str, int], labels: list[tuple[str, ...]], values: Sequence[float], render: Callable[[Callable[[float], str]], str]
    ) -> str:
        """The slice's text: from its template when its labels are unchanged; else from the
        template made of ``render(fmt)`` with a placeholder for the values while the budget
        has room, or ``render(repr)`` when it has none."""
        digest = hash(tuple(labels))
        count = len(labels)
        self._used.add(key)
        entry = self.entries.get(key)
        if entry is not None and entry[0] == count and entry[1] == digest:
            self.hits += 1
            return entry[2] % tuple(values)
        if entry is not None:
            self.size -= len(entry[2])
            del self.entries[key]
        if self.size < self.budget:
            # the labels' text with a mark where each value goes: a template for this cycle
            # and the next ones (one rendering, as without the cache)
            marked = render(_placeholder)
            if marked.count("\x00") == count:  # no NUL in a label value: the marks are the values
                template = marked.replace("%", "%%").replace("\x00", "%r")
                self.entries[key] = (count, digest, template)
                self.size += len(template)
                return template % tuple(values)
        return render(repr)

    def end_cycle(self) -> None:
        """Forget the slices not rendered in this cycle (families gone, fewer rows)."""
        for key in [k for k in self.entries if k not in self._used]:
            self.size -= len(self.entries.pop(key)[2])
        self._used = set()


def render(samples: Samples, keep_body: bool = True, cache: LabelCache | None = None, prerendered: Prerendered | None = None) -> Exposition:
    """Render and gzip in one pass: each family's text goes to a compressor thread as soon
    as it is rendered, so deflate (which releases the GIL) runs on the second core while
    the next families render.  With ``keep_body=False`` the plain text is never held whole
    (only its gzip copy and its length).  ``prerendered``: see :func:`render_chunks`."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # gzip framing, mtime 0
    queue: Queue[bytes | bytearray | None] = Queue(DEFLATE_QUEUE)
    parts: list[bytes] = []

    def deflate() -> None:
        while (chunk := queue.get()) is not None:
            parts.append(compressor.compress(chunk))
        parts.append(compressor.flush())

    worker = threading.Thread(target=deflate, name="gzip", daemon=True)
    worker.start()
    body = io.BytesIO() if keep_body else None
    length = 0
    pending: list[bytes | bytearray] = []
    pending_size = 0
    try:
        for chunk in render_chunks(samples, cache, prerendered):
            length += len(chunk)
            if body is not None:
                body.write(chunk)
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= DEFLATE_BATCH:  # small families together: fewer hand-overs
                queue.put(b"".join(pending) if len(pending) > 1 else pending[0])
                pending, pending_size = [], 0
        if pending:
            queue.put(b"".join(pending))
        if cache is not None:
            cache.end_cycle()
    finally:
        queue.put(None)
        worker.join()
    text = body.getvalue() if body is not None else None
    return Exposition(text, b"".join(parts), samples.series_count(), length)


def render_reference(samples: Samples) -> bytes:
    """The same text through prometheus_client's ``generate_latest`` (the reference that
    :func:`render_text` must equal byte for byte; kept for the equality test)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SamplesCollector(samples))
    body: bytes = generate_latest(registry)
    return body


def render_text(samples: Samples) -> bytes:
    """Samples -> Prometheus text format 0.0.4, identical to :func:`render_reference`."""
    # Families are encoded one by one into a BytesIO: no 30 MB str.join/encode/bytes.join
    # holding the GIL for 20+ ms, and getvalue() hands over the buffer without a copy.
    out = io.BytesIO()
    for chunk in render_chunks(samples):
        out.write(chunk)
    return out.getvalue()


def render_chunks(
    samples: Samples, cache: LabelCache | None = None, prerendered: Prerendered | None = None
) -> Iterator[bytes | bytearray]:
    """The text of each family in turn, encoded.

    ``generate_latest`` costs ~8 us per sample (label validation, a dict and a sort per
    sample); at 10k partitions and 500 groups (~300k samples) that was 2.6 s of CPU holding
    the GIL.  Here each family is one %-template applied by C-level ``map``s (~1 us per
    sample); label order is decided once per family, and escaping is only done for a
    family whose text shows a quote, backslash or newline inside a label value.
    ``prerendered``: families rendered before (:func:`prerender`), used while unchanged.
    """
    samples.resolve_blocks()
    for block in samples.blocks:
        yield block.text
    for spec, rows in samples:
        if prerendered:
            done = prerendered.get(spec)
            # the same rows, not added to since (rows are only ever appended to)
            if done is not None and done[0] is rows and done[1] == len(rows):
                yield done[2]
                continue
        yield from _family_chunks(spec, rows, cache)


#: family -> (its rows then, their count then, its text): see :func:`prerender`
Prerendered = dict[MetricSpec, tuple[Rows, int, bytes]]


def prerender(samples: Samples, cache: LabelCache | None = None, limit: int = PRERENDER_SERIES) -> Prerendered:
    """The text of each family of ``samples`` now, for a later :func:`render` of samples that
    hold the same rows (the collector renders what it prepared while the consumer groups are
    read, see exporter.cycle): the same text as rendering them then, byte for byte.  Nothing
    when ``samples`` hold more than ``limit`` series (see :data:`PRERENDER_SERIES`)."""
    if samples.series_count() > limit:
        return {}
    return {spec: (rows, len(rows), b"".join(_family_chunks(spec, rows, cache))) for spec, rows in samples}


def _family_chunks(spec: MetricSpec, rows: Rows, cache: LabelCache | None) -> Iterator[bytes]:
    """One family's text, slice by slice, encoded."""
    name = spec.name  # counters: family_name + "_total", as prometheus_client writes it
    help_text = spec.help.replace("\\", r"\\").replace("\n", r"\n")
    head = f"# HELP {name} {help_text}\n# TYPE {name} {spec.type}\n"
    if not rows:
        yield head.encode()
        return
    if spec.type == "histogram":
        yield (head + _histogram_text(spec, rows)).encode()
        return
    labels = spec.labels
    if spec.type == "summary":
        yield (head + _summary(name, labels, rows)).encode()
        return
    if not labels:
        yield (head + "".join(f"{name} {v}\n" for v in _values(rows))).encode()
        return
    # prometheus_client writes labels sorted by name
    order = sorted(range(len(labels)), key=labels.__getitem__)
    pick = itemgetter(*order) if order != list(range(len(labels))) else None  # 2+ labels: tuples
    prefix = name + "{" + ",".join(f'{labels[i]}="%s"' for i in order) + "} "
    yield head.encode()
    # slice by slice: a family's whole text (10+ MB for 100k series) is never held, twice
    # (str and bytes), at once
    quotes = 2 * len(labels)
    # the number format is chosen once per family (repr below 1e6, Go's form above)
    fmt = repr if max(rows.values) < 1e6 else _number
    for i in range(0, len(rows), RENDER_SLICE):
        label_rows, values = rows.labels[i : i + RENDER_SLICE], rows.values[i : i + RENDER_SLICE]

        def text_of(
            fmt: Callable[[float], str],
            label_rows: list[tuple[str, ...]] = label_rows,
            values: Sequence[float] = values,
            prefix: str = prefix,
            pick: Any = pick,
            quotes: int = quotes,
        ) -> str:
            text = _lines(prefix, label_rows, values, fmt, pick, escape=False)
            count = len(label_rows)
            if text.count('"') != quotes * count or text.count("\n") != count or "\\" in text:
                # a label value needs escaping (escaping changes nothing in the others: the
                # same text as escaping the whole family)
                text = _lines(prefix, label_rows, values, fmt, pick, escape=True)
            return text

        # the cache's templates hold repr's text (%r): only for families in repr's range
        text = cache.text((name, i), label_rows, values, text_of) if cache is not None and fmt is repr else text_of(fmt)
        yield text.encode()


def _summary(name: str, labels: tuple[str, ...], rows: Rows) -> str:
    """A summary family (few rows: the plain way): quantile rows, and the rows marked
    SUMMARY_SUM / SUMMARY_COUNT as ``<name>_sum`` / ``<name>_count`` without the quantile label."""
    lines = []
    for (values, _), text in zip(rows, _values(rows), strict=True):
        *others, quantile = _escape_row(values)
        pairs = list(zip(labels[:-1], others, strict=True))
        suffix = ""
        if quantile in (SUMMARY_SUM, SUMMARY_COUNT):
            suffix = quantile
        else:
            pairs.append(("quantile", quantile))
        body = ",".join(f'{k}="{v}"' for k, v in sorted(pairs))
        lines.append(f"{name}{suffix}{{{body}}} {text}\n" if body else f"{name}{suffix} {text}\n")
    return "".join(lines)


def _lines(
    prefix: str, labels: list[tuple[str, ...]], values: Iterable[float], fmt: Callable[[float], str], pick: Any, escape: bool
) -> str:
    """One slice of a family's rows (at most RENDER_SLICE: one C-level call holding the GIL)."""
    label_rows: Iterable[Any] = labels
    if escape:
        label_rows = map(_escape_row, label_rows)
    if pick is not None:
        label_rows = map(pick, label_rows)
    return "\n".join(map(add, map(prefix.__mod__, label_rows), map(fmt, values))) + "\n"


def _values(rows: Rows) -> Iterator[str]:
    # repr() is Go's format below 1e6; bigger values may need Go's exponent form
    return map(repr if max(map(row_value, rows)) < 1e6 else _number, map(row_value, rows))


def _escape_row(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for v in values)


def _number(value: float) -> str:
    """floatToGoString for the finite floats Samples holds (Go uses exponents from 1e7)."""
    text = repr(value)
    if value >= 1e6 and text.find(".") > 6:
        return str(floatToGoString(value))
    return text

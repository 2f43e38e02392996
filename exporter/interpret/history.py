"""The bounded state the offset interpretation keeps between cycles.

Memory cost (measured with ``benchmarks/interpret_history.py``, CPython 3.11, 64-bit,
10,000 partitions):

* per partition: one :class:`PartitionHistory` -- about 400 bytes with its key and dict
  entry while idle (a flat log end takes one point), plus about 16.5 bytes per point
  (time and log end offset in two ``array('d')``); at the default 60 points about
  1.4 KB per busy partition (13.8 MB for 10,000 busy partitions);
* per (group, topic, partition) with a committed offset: one :class:`CommitHistory`,
  about 170 bytes with its key;
* per group: one counter entry (about 150 bytes).

Entries of partitions and groups that disappear from a successful Admin-API cycle are
dropped at once, so the state never outgrows what the cluster has now.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field


class PartitionHistory:
    """(time, log end offset) points of one partition, oldest first, for lag in seconds.

    Offsets strictly increase from point to point.  When the log end has not moved since
    the last point, that point's time is moved forward instead of adding one ("last time
    the log end was at this offset"), so an idle partition costs one point and a point
    ``(t, o)`` followed by ``(t2, o2)`` says the log end grew from ``o`` to ``o2`` between
    ``t`` and ``t2``.  At most ``capacity`` points: the oldest is dropped first.
    """

    __slots__ = (
        "capacity",
        "first_seen",
        "last_offset",
        "offsets",
        "regressed_messages",
        "regressions",
        "times",
        "topic_id",
    )

    def __init__(self, capacity: int, topic_id: str | None = None) -> None:
        self.capacity = max(2, capacity)
        self.times = array("d")
        self.offsets = array("d")
        self.topic_id = topic_id
        self.first_seen: float | None = None
        #: the exact last log end offset (the arrays hold floats)
        self.last_offset: int | None = None
        self.regressions = 0
        self.regressed_messages = 0

    def clear(self) -> None:
        del self.times[:]
        del self.offsets[:]
        self.first_seen = None
        self.last_offset = None

    def observe(self, now: float, offset: int) -> int:
        """Add one observation; return by how much the log end went backwards (0 if not)."""
        regressed = 0
        if self.last_offset is not None and offset < self.last_offset:
            regressed = self.last_offset - offset
            self.regressions += 1
            self.regressed_messages += regressed
            self.clear()  # the old points describe a log that no longer exists
        if self.first_seen is None:
            self.first_seen = now
        self.last_offset = offset
        if self.offsets and self.offsets[-1] == float(offset):
            self.times[-1] = now
            return regressed
        if len(self.offsets) >= self.capacity:
            del self.times[0]
            del self.offsets[0]
        self.times.append(now)
        self.offsets.append(float(offset))
        return regressed

    def time_at(self, offset: int) -> tuple[float, bool] | None:
        """When the log end was at ``offset``: (time, exact), or None when it cannot say.

        Inside the history: linear interpolation between the two points around it, so the
        error is at most the time between those observations (one collection interval
        while the partition is busy).  Before the oldest point: extrapolated backwards at
        the average rate of the whole history (``exact`` False); with a single point, the
        time the history started (a lower bound on the age; ``exact`` False), and None
        before a second observation.
        """
        n = len(self.offsets)
        if n == 0:
            return None
        value = float(offset)
        if value >= self.offsets[-1]:
            return self.times[-1], True
        if value >= self.offsets[0]:
            lo, hi = 0, n - 1
            while hi - lo > 1:  # offsets[lo] <= value < offsets[hi]
                mid = (lo + hi) // 2
                if self.offsets[mid] <= value:
                    lo = mid
                else:
                    hi = mid
            o0, o1 = self.offsets[lo], self.offsets[hi]
            t0, t1 = self.times[lo], self.times[hi]
            return t0 + (value - o0) / (o1 - o0) * (t1 - t0), True
        if n >= 2 and self.times[-1] > self.times[0]:
            rate = (self.offsets[-1] - self.offsets[0]) / (self.times[-1] - self.times[0])
            return self.times[0] - (self.offsets[0] - value) / rate, False
        start = self.first_seen if self.first_seen is not None else self.times[0]
        if start >= self.times[-1]:
            return None  # one observation only: nothing known about the age yet
        return start, False


@dataclass(slots=True)
class CommitHistory:
    """The last committed offset of one group on one partition, and since when it stands."""

    offset: int
    since: float


@dataclass
class History:
    """All state the offset interpretation keeps between cycles (see the module docstring)."""

    points: int = 60
    partitions: dict[tuple[str, int], PartitionHistory] = field(default_factory=dict)
    commits: dict[tuple[str, str, int], CommitHistory] = field(default_factory=dict)
    rewinds: dict[str, int] = field(default_factory=dict)
    regressions_total: int = 0

    def partition(self, topic: str, partition: int, topic_id: str | None) -> PartitionHistory:
        key = (topic, partition)
        ph = self.partitions.get(key)
        if ph is None or (topic_id is not None and ph.topic_id is not None and ph.topic_id != topic_id):
            # new, or the topic was deleted and created again: a new log, not a regression
            ph = self.partitions[key] = PartitionHistory(self.points, topic_id)
        elif ph.topic_id is None:
            ph.topic_id = topic_id
        return ph

    def size(self) -> tuple[int, int, int]:
        """(partitions, points, group partitions) held now."""
        return len(self.partitions), sum(len(p.offsets) for p in self.partitions.values()), len(self.commits)

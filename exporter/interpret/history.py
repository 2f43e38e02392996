"""The bounded state the offset interpretation keeps between cycles.

Memory cost (measured with ``benchmarks/interpret_history.py``, CPython 3.11, 64-bit,
10,000 partitions):

* per partition: one :class:`PartitionHistory` -- about 525 bytes with its key and dict
  entry while idle (a flat log end takes one point), plus about 28 bytes per point
  (log end offset, first and last time seen in three ``array('d')``); at the default 60
  points about 2.2 KB per busy partition (22 MB for 10,000 busy partitions);
* per (group, topic, partition) with a committed offset: one :class:`CommitHistory`,
  about 170 bytes with its key;
* per group: one counter entry (about 150 bytes) and one :class:`GroupHistory` (when
  members were last seen and at most ``TREND_SAMPLES`` + 2 samples of its total lag: about
  400 bytes).

Entries of partitions and groups that disappear from a successful Admin-API cycle are
dropped at once, so the state never outgrows what the cluster has now.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field


class PartitionHistory:
    """Log end offsets of one partition over time, oldest first, for lag in seconds.

    One point per distinct log end offset, offsets strictly increasing: the offset, the
    FIRST time it was seen (``first``) and the LAST time it was seen (``last``).  While the
    log end is flat only ``last`` moves on, so an idle partition costs one point.  Two
    neighbouring points ``(o, first, last)`` and ``(o2, first2, last2)`` say the log end
    grew from ``o`` to ``o2`` after ``last`` and by ``first2``: that is the only interval
    in which the messages ``o .. o2-1`` can have been written.  (Interpolating into the
    moved ``last2`` instead made a burst followed by quiet look seconds old, however long
    ago it was written.)  At most ``capacity`` points: the oldest is dropped first.
    """

    __slots__ = (
        "capacity",
        "first",
        "last",
        "last_offset",
        "offsets",
        "regressed_messages",
        "regressions",
        "topic_id",
    )

    def __init__(self, capacity: int, topic_id: str | None = None) -> None:
        self.capacity = max(2, capacity)
        self.offsets = array("d")
        self.first = array("d")
        self.last = array("d")
        self.topic_id = topic_id
        #: the exact last log end offset (the arrays hold floats)
        self.last_offset: int | None = None
        self.regressions = 0
        self.regressed_messages = 0

    def clear(self) -> None:
        del self.offsets[:]
        del self.first[:]
        del self.last[:]
        self.last_offset = None

    def observe(self, now: float, offset: int) -> int:
        """Add one observation; return by how much the log end went backwards (0 if not)."""
        regressed = 0
        if self.last_offset is not None and offset < self.last_offset:
            regressed = self.last_offset - offset
            self.regressions += 1
            self.regressed_messages += regressed
            self.clear()  # the old points describe a log that no longer exists
        self.last_offset = offset
        if self.offsets and self.offsets[-1] == float(offset):
            self.last[-1] = now
            return regressed
        if len(self.offsets) >= self.capacity:
            del self.offsets[0]
            del self.first[0]
            del self.last[0]
        self.offsets.append(float(offset))
        self.first.append(now)
        self.last.append(now)
        return regressed

    def time_at(self, offset: int) -> tuple[float, bool] | None:
        """When the log end was at ``offset``: (time, exact), or None when it cannot say.

        That is when the message at ``offset`` was written, i.e. the age of the oldest
        message a consumer positioned there has not read.  Inside the history: linear
        interpolation between the LAST time the log end was at the offset below and the
        FIRST time it was at the offset above, so the error is at most the time between
        those two observations (one collection interval).  Before the oldest point:
        extrapolated backwards from the first time the oldest offset was seen, at the
        average rate of the whole history (``exact`` False); with a single point, the
        first time it was seen (a lower bound on the age; ``exact`` False), and None
        before a second observation.
        """
        n = len(self.offsets)
        if n == 0:
            return None
        value = float(offset)
        if value >= self.offsets[-1]:
            return self.last[-1], True  # not written yet: the log end is still there
        if value >= self.offsets[0]:
            lo, hi = 0, n - 1
            while hi - lo > 1:  # offsets[lo] <= value < offsets[hi]
                mid = (lo + hi) // 2
                if self.offsets[mid] <= value:
                    lo = mid
                else:
                    hi = mid
            o0, o1 = self.offsets[lo], self.offsets[hi]
            t0, t1 = self.last[lo], self.first[hi]
            return t0 + (value - o0) / (o1 - o0) * (t1 - t0), True
        start = self.first[0]
        if n >= 2 and self.first[-1] > start:
            rate = (self.offsets[-1] - self.offsets[0]) / (self.first[-1] - start)
            return start - (self.offsets[0] - value) / rate, False
        if start >= self.last[-1]:
            return None  # one observation only: nothing known about the age yet
        return start, False


@dataclass(slots=True)
class CommitHistory:
    """The last committed offset of one group on one partition, and since when it stands."""

    offset: int
    since: float
    #: the offset has moved forward at ``since`` (not merely first seen then)
    moved: bool = False


#: samples of a group's total lag kept over the status window (one per window / TREND_SAMPLES)
TREND_SAMPLES = 5


class GroupHistory:
    """What the group status needs beyond the commits: when members were last seen, and the
    group's total lag at a few points of the sliding window (is the lag growing?)."""

    __slots__ = ("lags", "members_seen", "times")

    def __init__(self) -> None:
        self.members_seen: float | None = None
        self.times = array("d")
        self.lags = array("d")

    def lag_not_shrinking(self, now: float, total_lag: float, window: float) -> bool | None:
        """Record the group's total lag; say whether it is not smaller than at the window start.

        False when the lag was 0 at any sample in the window (Burrow: a group that caught
        up within the window is fine); None until a fifth of the window has been watched.
        The newest sample at or before the window start is kept as the start, so the trend
        spans the whole window once the exporter has watched that long.
        """
        times, lags = self.times, self.lags
        while len(times) >= 2 and times[1] <= now - window:
            del times[0]
            del lags[0]
        step = window / TREND_SAMPLES
        if not times or now - times[-1] >= step:
            times.append(now)
            lags.append(total_lag)
        if now - times[0] < step:
            return None
        return total_lag >= lags[0] and min(lags) > 0


@dataclass
class History:
    """All state the offset interpretation keeps between cycles (see the module docstring)."""

    points: int = 60
    partitions: dict[tuple[str, int], PartitionHistory] = field(default_factory=dict)
    commits: dict[tuple[str, str, int], CommitHistory] = field(default_factory=dict)
    groups: dict[str, GroupHistory] = field(default_factory=dict)
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

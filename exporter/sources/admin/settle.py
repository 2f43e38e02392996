"""Waiting for the Admin API's futures until a deadline, and naming what failed.

Every Admin-API request of a cycle is awaited only until a deadline inside the cycle's: what
answered is kept, what did not is failed with :data:`NO_ANSWER` (its request waits on a
broker that is down or slow), and every failure is kept by key, never only the first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from confluent_kafka import KafkaException

#: why a request that was still waiting at the cycle's deadline is missing
NO_ANSWER = "no answer by the cycle's deadline"
#: failed resources named in one error line; the rest are counted
NAMED_IN_ERRORS = 10
K = TypeVar("K")


@dataclass
class Settled(Generic[K]):
    """What a set of futures came to by a deadline."""

    #: key -> result of every future that succeeded
    answered: dict[K, Any] = field(default_factory=dict)
    #: key -> why it failed: librdkafka's error, or no answer by the deadline
    failed: dict[K, str] = field(default_factory=dict)


def settle(futures: Mapping[K, Future[Any]], deadline: float) -> Settled[K]:
    """Wait for ``futures`` until ``deadline`` (time.monotonic()) at most; keep every answer.

    A future still pending at the deadline is failed with "no answer by the cycle's
    deadline": its request waits on a broker that is down or slow, and must not hold back
    what the others answered.  Every failure is kept by key (never only the first)."""
    settled: Settled[K] = Settled()
    answered, failed, now = settled.answered, settled.failed, time.monotonic
    # one result() per future, each waiting at most until the deadline: the same as waiting
    # for all of them first, with one lock taken per future instead of three (list_offsets
    # hands back 30,000 futures a cycle at 10k partitions)
    for key, future in futures.items():
        try:
            answered[key] = future.result(max(0.0, deadline - now()))
        except KafkaException as exc:
            failed[key] = kafka_error(exc)
        except TimeoutError:  # concurrent.futures.TimeoutError is TimeoutError since 3.11
            failed[key] = NO_ANSWER
    return settled


def summary(what: str, failed: Mapping[K, str], name: Callable[[K], str]) -> str:
    """One error line naming every failed resource (up to :data:`NAMED_IN_ERRORS`)."""
    items = sorted((name(key), why) for key, why in failed.items())
    named = ", ".join(f"{n} ({why})" for n, why in items[:NAMED_IN_ERRORS])
    more = f" and {len(items) - NAMED_IN_ERRORS} more" if len(items) > NAMED_IN_ERRORS else ""
    return f"{what}: {len(items)} failed: {named}{more}"


def kafka_error(exc: BaseException) -> str:
    if isinstance(exc, KafkaException) and exc.args:
        err = exc.args[0]
        text = getattr(err, "str", lambda: str(err))()
        return f"{getattr(err, 'name', lambda: '')()}: {text}".strip(": ")
    return str(exc) or exc.__class__.__name__

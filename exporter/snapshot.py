"""What the sources returned in one cycle: the input of emission and interpretation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from exporter.catalogue import Samples

#: an interpretation step: reads the snapshot, adds derived samples, does no I/O
Interpreter = Callable[["Snapshot", Samples], None]


@dataclass
class TargetResult:
    source: str
    target: str
    up: bool
    duration: float
    payload: Any = None
    error: str | None = None
    #: errors of this cycle, including partial ones a successful payload carries
    errors: int = 0


@dataclass
class Snapshot:
    """What every source returned in one cycle."""

    started: float
    finished: float = 0.0
    results: list[TargetResult] = field(default_factory=list)
    #: records interpreters derived this cycle, for later interpreters (the findings), by name
    derived: dict[str, Any] = field(default_factory=dict)

    def payloads(self, source: str) -> list[Any]:
        """Payloads of the targets of ``source`` that succeeded this cycle."""
        return [r.payload for r in self.results if r.source == source and r.up]

    def payload(self, source: str) -> Any:
        """The payload of a single-target source, or None when it failed."""
        found = self.payloads(source)
        return found[0] if found else None

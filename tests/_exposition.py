"""Parse an exposition back into values, for exact assertions in tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


class Parsed:
    def __init__(self, body: bytes | str) -> None:
        text = body.decode() if isinstance(body, bytes) else body
        self.families: dict[str, tuple[str, str]] = {}
        self.samples: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in text_string_to_metric_families(text):
            self.families[family.name] = (family.type, family.documentation)
            for sample in family.samples:
                self.samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))

    def value(self, name: str, /, **labels: str | int) -> float | None:
        want = {k: str(v) for k, v in labels.items()}
        for got, number in self.samples.get(name, []):
            if got == want:
                return number
        return None

    def series(self, name: str, /, **labels: str | int) -> list[tuple[dict[str, str], float]]:
        """Samples of ``name`` whose labels include ``labels``."""
        want = {k: str(v) for k, v in labels.items()}
        return [(got, n) for got, n in self.samples.get(name, []) if want.items() <= got.items()]

    def names(self) -> set[str]:
        return set(self.samples)

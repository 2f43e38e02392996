"""Helpers for tests and benchmarks (recorded fixtures -> typed records)."""

"""JMX addresses and jmxquery's pattern syntax as the JMX worker reads them: pure functions, shared by the worker
(:mod:`exporter.sources.jmx.reader`), the broker source and the tests.

``[~]object-name[/attribute[,attribute...][/key]]``: a leading ``~`` lets the worker cache the
pattern's MBean names (:data:`CACHE_NAMES`); ``key=A|B`` and ``key=!A`` filter MBeans by a key's
value (:func:`alternatives`).
"""

from __future__ import annotations

#: pattern prefix: this pattern's MBean names may be cached for ``reader.NAMES_TTL``
CACHE_NAMES = "~"


def split_pattern(pattern: str) -> tuple[str, list[str] | None, str | None]:
    """``object-name[/attribute[/key]]`` as jmxquery writes them; ``attribute`` may also be a
    comma-separated list (``/Count,Mean,99thPercentile``): one ``getAttributes`` reads them all."""
    name, _, rest = pattern.partition("/")
    if not rest:
        return name, None, None
    attribute, _, key = rest.partition("/")
    attributes = [a for a in attribute.split(",") if a]
    return name, attributes, (key or None) if len(attributes) == 1 else None


def alternatives(name_pat: str) -> tuple[str, tuple[tuple[str, frozenset[str], bool], ...]]:
    """Name filters on key values: ``key=A|B`` keeps those values, ``key=!A|B`` all but those.
    ``domain:type=T,name=A|B|C`` -> (``domain:type=T,name=*``, (("name", {A, B, C}, True),)): the
    MBeans of a type that the mapping uses, found by one (cacheable) ``queryNames`` and kept by
    that key's value, instead of reading every MBean of the type (``KafkaController,*`` has 17
    MBeans, 8 used) or asking once per value.  ``|`` and a leading ``!`` are legal, if unusual,
    in ObjectName values; a quoted value is taken literally."""
    domain, sep, keys = name_pat.partition(":")
    parts = keys.split(",")
    filters: list[tuple[str, frozenset[str], bool]] = []
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        if eq and not value.startswith('"') and ("|" in value or value.startswith("!")):
            parts[i] = f"{key}=*"
            keep = not value.startswith("!")
            filters.append((key, frozenset(v for v in value.removeprefix("!").split("|") if v), keep))
    if not filters:
        return name_pat, ()
    return f"{domain}{sep}{','.join(parts)}", tuple(filters)


def jmx_url(address: str) -> str:
    """``host:port`` -> the standard RMI JMX service URL; a ``service:jmx:`` URL is kept."""
    if address.startswith("service:jmx:"):
        return address
    return f"service:jmx:rmi:///jndi/rmi://{address}/jmxrmi"

"""What every configuration section shares: options, their coercion, the error that names a
YAML path, reading YAML, secret references.

A section is a frozen dataclass whose fields are declared with :func:`option` (kind,
default, documentation, range: the only place a default is written), :func:`section` (a
nested section) or :func:`validated` (a section with a validator of its own, e.g. ``jmx``).
:func:`build` validates raw YAML data into such a dataclass, every error naming its YAML
path; :func:`schema` gives the options as nested dicts (for the docs); :func:`defaults`
is a section with every option at its default.

Below :mod:`exporter.config` and the sections owned by features (e.g.
:mod:`exporter.sources.client_stats.config`), which import it; it imports neither.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

_SECRET_RE = re.compile(r"^\$\{(env|file):([^}]+)\}$")


class ConfigError(Exception):
    """A configuration problem, with the YAML path that has it."""

    def __init__(self, path: str, message: str) -> None:
        text = " ".join((f"{path}: {message}" if path else message).split())  # always one line
        super().__init__(text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…")
        self.path = path


#: an error names the problem; it never echoes kilobytes of input
MAX_ERROR_CHARS = 400
#: deeper YAML nesting is refused before it is built (no config needs more than a handful)
MAX_YAML_DEPTH = 64
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _check_depth(path: str, text: str) -> None:
    """Refuse absurd nesting before PyYAML builds it (its pure-Python parser takes seconds
    on ``[[[[...`` and then overflows the stack).  The C parser, when present, counts fast;
    syntax errors are left to the real load, whose messages are the familiar ones."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=_YAML_LOADER):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise ConfigError("", f"{path}: YAML nested deeper than {MAX_YAML_DEPTH} levels")
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return


def read_yaml(path: str, what: str = "config file") -> Any:
    """Read a YAML file into Python data; every problem is one ConfigError naming ``path``."""
    try:
        raw = Path(path).read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ConfigError("", f"cannot read {what} {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError("", f"{path}: not UTF-8 text (byte {exc.start})") from None
    _check_depth(path, text)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("", f"{path}: YAML syntax error{where}: {problem}") from None
    except (ValueError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        # PyYAML's constructors raise these for values such as a 5000-digit int or !!int 'x'
        raise ConfigError("", f"{path}: YAML value cannot be read: {exc.__class__.__name__}: {exc}") from None


def resolve_secret(path: str, value: str) -> str:
    """``${env:NAME}`` / ``${file:/path}`` -> the secret; the secret itself is never logged."""
    match = _SECRET_RE.match(value)
    if not match:
        return value
    where, name = match.groups()
    if where == "env":
        if name not in os.environ:
            raise ConfigError(path, f"environment variable {name} is not set")
        return os.environ[name]
    try:
        return Path(name).read_text().strip()
    except UnicodeDecodeError:
        raise ConfigError(path, f"secret file {name} is not UTF-8 text") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(path, f"cannot read secret file {name}: {getattr(exc, 'strerror', None) or exc}") from None


def _ascii_digits(text: str, most: int) -> bool:
    """Plain ASCII digits only (str.isdigit also accepts '²' and '٣', which int() refuses or reads)."""
    return text.isascii() and text.isdigit() and len(text) <= most


@dataclass(frozen=True)
class Opt:
    """One scalar option: its type, default and documentation."""

    kind: str  # str, int, float, bool, regexes, servers, address, map, level, list
    default: Any
    help: str
    minimum: float | None = None
    maximum: float | None = None


LEVELS = ("debug", "info", "warning", "error")
_T = TypeVar("_T")


def option(
    kind: str, default: Any, help: str, minimum: float | None = None, maximum: float | None = None
) -> dict[str, Any]:
    """Metadata of a section field holding one option: ``field(metadata=option(...))``.  The
    field has no dataclass default: the default lives here, in the Opt."""
    return {"opt": Opt(kind, default, help, minimum, maximum)}


def section(cls: type) -> dict[str, Any]:
    """Metadata of a section field holding a nested section."""
    return {"section": cls}


def validated(check: Callable[[str, Any], Any]) -> dict[str, Any]:
    """Metadata of a section field validated by ``check(path, data)`` (a feature's own validator)."""
    return {"validator": check}


def schema(cls: type) -> dict[str, Any]:
    """The options of a section as nested dicts of :class:`Opt` (validated sections left out)."""
    found: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if "opt" in f.metadata:
            found[f.name] = f.metadata["opt"]
        elif "section" in f.metadata:
            found[f.name] = schema(f.metadata["section"])
    return found


def defaults(cls: type[_T]) -> _T:
    """The section with every option at its default."""
    return build(cls, "", {})


def build(cls: type[_T], path: str, data: Any) -> _T:
    """Validate ``data`` (parsed YAML, None for an absent section) into the section ``cls``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path or "(top level)", f"expected a mapping, got {type_name(data)}")
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    known = [f.name for f in fields]
    for key in data:
        if not isinstance(key, str) or key not in known:
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(known)}"
            raise ConfigError(f"{path}.{key}" if path else str(key), f"unknown key{hint}")
    values: dict[str, Any] = {}
    for f in fields:
        sub_path = f"{path}.{f.name}" if path else f.name
        if "opt" in f.metadata:
            opt = f.metadata["opt"]
            values[f.name] = _coerce(sub_path, opt, data[f.name]) if f.name in data else _default(sub_path, opt)
        elif "section" in f.metadata:
            values[f.name] = build(f.metadata["section"], sub_path, data.get(f.name))
        else:
            values[f.name] = f.metadata["validator"](sub_path, data.get(f.name))
    return cls(**values)


def _default(path: str, opt: Opt) -> Any:
    return _coerce(path, opt, opt.default) if opt.kind in ("regexes",) else opt.default


def type_name(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "list", dict: "mapping"}.get(
        type(value), type(value).__name__ if value is not None else "null"
    )


def _coerce(path: str, opt: Opt, value: Any) -> Any:
    kind = opt.kind
    if kind in ("str", "level", "address"):
        if not isinstance(value, str):
            raise ConfigError(path, f"expected a string, got {type_name(value)}")
        if kind == "level" and value.lower() not in LEVELS:
            raise ConfigError(path, f"unknown log level {value!r}; use one of {', '.join(LEVELS)}")
        if kind == "address":
            parse_address(path, value)
        return value.lower() if kind == "level" else value
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise ConfigError(path, f"expected true or false, got {type_name(value)}")
        return value
    if kind in ("int", "float"):
        if isinstance(value, str):
            if not value.isascii():
                raise ConfigError(path, f"expected a number in ASCII digits, got {value[:40]!r}")
            try:
                value = float(value) if kind == "float" else int(value)
            except ValueError:
                raise ConfigError(path, f"expected a number, got {value[:40]!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "int" and not isinstance(value, int)):
            raise ConfigError(path, f"expected {'an integer' if kind == 'int' else 'a number'}, got {type_name(value)}")
        if (
            value != value
            or (opt.minimum is not None and value < opt.minimum)
            or (opt.maximum is not None and value > opt.maximum)
        ):
            shown = f"{value:.6g}" if isinstance(value, float) or abs(value) > 10**15 else str(value)
            raise ConfigError(path, f"{shown} is out of range [{opt.minimum:g}, {opt.maximum:g}]")
        return float(value) if kind == "float" else value
    if kind == "servers":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ConfigError(path, f"expected host:port strings, got {type_name(value)}")
        servers = [s.strip() for s in items if s.strip()]
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not _ascii_digits(port, 5) or not 0 < int(port) < 65536:
                raise ConfigError(path, f"{server!r} is not host:port")
        return servers
    if kind == "regexes":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
            raise ConfigError(path, f"expected a regex or a list of regexes, got {type_name(value)}")
        compiled = []
        for i, pattern in enumerate(items):
            try:
                compiled.append(re.compile(pattern))
            except (re.error, OverflowError, RecursionError, ValueError) as exc:
                raise ConfigError(f"{path}[{i}]", f"invalid regex {pattern[:80]!r}: {exc}") from None
        return tuple(compiled)
    if kind == "map":
        if not isinstance(value, dict):
            raise ConfigError(path, f"expected a mapping, got {type_name(value)}")
        result = {}
        for key, item in value.items():
            if not isinstance(key, str) or isinstance(item, (dict, list)) or item is None:
                raise ConfigError(f"{path}.{key}", "expected a scalar value")
            result[key] = resolve_secret(f"{path}.{key}", str(item).lower() if isinstance(item, bool) else str(item))
        return result
    if kind == "list":
        if not isinstance(value, list):
            raise ConfigError(path, f"expected a list, got {type_name(value)}")
        return value
    raise AssertionError(kind)


def parse_address(path: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not _ascii_digits(port, 5) or not 0 <= int(port) < 65536:
        raise ConfigError(path, f"{value!r} is not [host]:port")
    return host.strip("[]") or "0.0.0.0", int(port)

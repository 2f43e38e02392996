"""What every configuration section shares: the error that names a YAML path, reading YAML, secret references.

Below :mod:`exporter.config` and the sections owned by features (e.g.
:mod:`exporter.sources.jmx.config`), which import it; it imports neither.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

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

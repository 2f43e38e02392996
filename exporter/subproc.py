"""Child Python processes (the Admin-API worker, the serving process) without multiprocessing.

``multiprocessing``'s spawn start method also starts a resource-tracker process (15 MB
RSS) the exporter has no use for.  A child here is ``python -m <module> <fd>...`` with
exactly the file descriptors it needs passed down; its arguments travel over the first
of them.  Children watch that descriptor and exit at end-of-file, so they never outlive
the exporter, even when it is killed.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

#: the directory holding the ``exporter`` package: the child imports the same code
_ROOT = str(Path(__file__).resolve().parent.parent)


class ChildProcess:
    """The part of ``multiprocessing.Process``'s interface the exporter uses."""

    def __init__(self, module: str, fds: list[int]) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
        self._popen = subprocess.Popen(
            [sys.executable, "-m", module, *map(str, fds)],
            pass_fds=fds,
            env=env,
            stdin=subprocess.DEVNULL,
        )

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def exitcode(self) -> int | None:
        """None while it runs; minus the signal number when a signal ended it."""
        return self._popen.poll()

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def join(self, timeout: float | None = None) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    def kill(self) -> None:
        if self._popen.poll() is None:
            self._popen.kill()

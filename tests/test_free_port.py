"""``free_port`` hands out a port no other caller got, in this process or another.

The failure this guards against happened in CI: the demo test picked the exporter's web port
with ``free_port()`` and the demo's embedded Tansu broker, in another process a moment later,
got the same port from the kernel (``bind(0)`` after the first socket closed): "cannot listen
on 127.0.0.1:32843: Address already in use".  Ports also come from below the kernel's
ephemeral range, so an outgoing connection cannot take one before its owner binds it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from exporter.demo import broker

ROOT = Path(__file__).resolve().parent.parent
DRAWS = 300


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def test_ports_are_never_handed_out_twice_across_processes() -> None:
    code = f"from exporter.demo.broker import free_port\nprint(' '.join(str(free_port()) for _ in range({DRAWS})))"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    mine = [broker.free_port() for _ in range(DRAWS)]
    out, _ = child.communicate(timeout=60)
    theirs = [int(p) for p in out.split()]
    assert len(theirs) == DRAWS
    assert len(set(mine)) == DRAWS, "one process got a port twice"
    assert not set(mine) & set(theirs), f"two processes got the same ports: {sorted(set(mine) & set(theirs))[:5]}"


def test_ports_come_from_below_the_ephemeral_range() -> None:
    low = _ephemeral_low()
    ports = [broker.free_port() for _ in range(50)]
    assert all(1024 < p < low for p in ports), [p for p in ports if not 1024 < p < low]


def test_a_reservation_expires(tmp_path: Path) -> None:
    import os
    import time

    assert broker._claim(str(tmp_path), 21000)
    assert not broker._claim(str(tmp_path), 21000), "a fresh reservation must hold"
    old = time.time() - broker.PORT_HOLD_SECONDS - 1
    os.utime(tmp_path / "21000", (old, old))
    assert broker._claim(str(tmp_path), 21000), "an expired reservation is taken over"
    assert not broker._claim(str(tmp_path), 21000)

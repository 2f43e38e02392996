"""The one framing both child processes speak (exporter/ipc.py)."""

from __future__ import annotations

import threading
import time

import pytest

from exporter.ipc import HEADER, Channel, unpickle
from exporter.sources.admin.records import Broker, ClusterState


def test_frames_keep_their_boundaries_and_bodies() -> None:
    parent, theirs = Channel.pair()
    child = Channel(theirs)
    big = bytes(range(256)) * 40_000  # 10 MB: more than one socket buffer, read in chunks
    state = ClusterState("c1", [Broker(1, "h", 9092, "r1")], {}, {}, ["partial"])

    def send() -> None:
        parent.send({"kind": "start", "level": 20})
        parent.send({"kind": "exposition", "series": 3}, big)
        parent.send_object({"kind": "ok", "seq": 7}, state)

    sender = threading.Thread(target=send)
    sender.start()
    assert child.recv() == ({"kind": "start", "level": 20}, bytearray())
    meta, body = child.recv()
    assert meta == {"kind": "exposition", "series": 3} and body == big
    meta, body = child.recv()
    sender.join()
    assert meta == {"kind": "ok", "seq": 7}
    assert unpickle(body) == state
    parent.close()
    with pytest.raises(EOFError):
        child.recv()
    child.close()


def test_poll_waits_for_the_start_of_a_frame_only() -> None:
    parent, theirs = Channel.pair()
    child = Channel(theirs)
    began = time.monotonic()
    assert not child.poll(0.2)
    assert 0.15 < time.monotonic() - began < 5
    parent.send({"kind": "collect", "seq": 1})
    assert child.poll(5)
    assert child.recv()[0] == {"kind": "collect", "seq": 1}
    parent.close()
    assert child.poll(5)  # the end of the stream is readable too: recv says EOFError
    with pytest.raises(EOFError):
        child.recv()
    child.close()


def test_a_frame_cut_short_is_end_of_stream_not_a_short_body() -> None:
    parent, theirs = Channel.pair()
    child = Channel(theirs)
    meta = b'{"kind": "block"}'
    parent.sock.sendall(HEADER.pack(len(meta), 1000) + meta + b"x" * 10)
    parent.close()
    with pytest.raises(EOFError):
        child.recv()
    child.close()

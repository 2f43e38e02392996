"""One framing for both child processes (the Admin-API worker and the serving process).

A child is started with one end of a socket pair (:mod:`exporter.subproc`); both sides talk
in frames::

    header (two unsigned 64-bit lengths) | JSON object (what the message is) | body (bytes)

The JSON object says what the frame is (``{"kind": "collect", "seq": 3}``); the body is
opaque: the Admin-API worker's pickled records, the serving process's gzipped exposition.
A body is read straight into one buffer of its final size (no concatenation of 30 MB).

Reading waits for the start of a frame with :meth:`Channel.poll` (a deadline that cannot
leave half a frame unread) and then reads the whole frame; end of stream (the other side
exited or closed) is :class:`EOFError`.  Pickled bodies are only ever exchanged between
the exporter and the children it started over their private socket pair.
"""

from __future__ import annotations

import json
import pickle
import select
import socket
import struct
from collections.abc import Mapping
from typing import Any

#: lengths of the JSON object and of the body
HEADER = struct.Struct("!QQ")
#: most bytes asked of the socket at once
_CHUNK = 1 << 20


class Channel:
    """One end of a parent-child socket pair, speaking frames."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, socket.socket]:
        """The parent's channel, and the socket whose descriptor the child gets."""
        ours, theirs = socket.socketpair()
        return cls(ours), theirs

    @classmethod
    def from_fd(cls, fd: int) -> Channel:
        """The child's channel, from the descriptor on its command line."""
        return cls(socket.socket(fileno=fd))

    def send(self, meta: Mapping[str, Any], body: bytes | bytearray | memoryview = b"") -> None:
        raw = json.dumps(meta).encode()
        self.sock.sendall(HEADER.pack(len(raw), len(body)) + raw)
        if len(body):
            self.sock.sendall(body)

    def send_object(self, meta: Mapping[str, Any], obj: object) -> None:
        """``meta`` with ``obj`` pickled as the body (only between the exporter's own processes)."""
        self.send(meta, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))

    def recv(self) -> tuple[dict[str, Any], bytearray]:
        """The next frame (blocking); EOFError at the end of the stream."""
        header = self._exactly(HEADER.size)
        meta_len, body_len = HEADER.unpack(header)
        meta = json.loads(self._exactly(meta_len))
        if not isinstance(meta, dict):
            raise ValueError(f"frame header is not a JSON object: {type(meta).__name__}")
        return meta, self._exactly(body_len)

    def poll(self, timeout: float) -> bool:
        """True when a frame (or the end of the stream) can be read within ``timeout`` seconds."""
        readable, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        return bool(readable)

    def close(self) -> None:
        self.sock.close()

    def _exactly(self, size: int) -> bytearray:
        buf = bytearray(size)
        view = memoryview(buf)
        got = 0
        while got < size:
            n = self.sock.recv_into(view[got:], min(size - got, _CHUNK))
            if n == 0:
                raise EOFError("the other process closed the channel")
            got += n
        return buf


def unpickle(body: bytes | bytearray) -> Any:
    """A body sent with :meth:`Channel.send_object`."""
    return pickle.loads(body)

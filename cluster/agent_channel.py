"""The local channel between a node's app and its Raft agent.

A stream socketpair made by the app and inherited by the agent at spawn: nothing else can
reach it (no address, no file). Messages are tuples, length-prefixed pickles, since both
ends are the same program. Sends are serialized by a lock; one thread reads.

Messages, app -> agent: `("hello", AgentParams)` first; `("alive",)` from the app's
liveness thread; `("call", id, name, args)`; `("op", name, args)` (no answer).
Agent -> app: `("snapshot", applied, model)`, `("apply", applied, name, args)`,
`("result", id, ok, value_or_reason)`, `("lease", epoch, valid_until, sent)`,
`("status", AgentStatus)`.
"""

from __future__ import annotations

import contextlib
import pickle
import socket
import struct
import threading
from typing import Any

_HEADER = struct.Struct("!I")


class Channel:
    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(True)
        self.sock = sock
        self._reader = sock.makefile("rb")
        self._lock = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        """Send one message; OSError once the other end is gone."""
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self.sock.sendall(_HEADER.pack(len(data)) + data)

    def recv(self) -> tuple[Any, ...]:
        """The next message; EOFError once the other end is gone."""
        header = self._reader.read(_HEADER.size)
        if len(header) < _HEADER.size:
            raise EOFError("channel closed")
        (size,) = _HEADER.unpack(header)
        data = self._reader.read(size)
        if len(data) < size:
            raise EOFError("channel closed")
        message: tuple[Any, ...] = pickle.loads(data)
        return message

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._reader.close()
        self.sock.close()

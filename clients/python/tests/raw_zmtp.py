"""A DEALER written by hand over a TCP socket (ZMTP 3.0, NULL mechanism): for tests that need what libzmq's own sockets
do not do, such as a READY with any property, or many messages reaching the broker in one write."""

from __future__ import annotations

import socket
import struct
from typing import List


class RawZMTPDealer:
    """A DEALER written by hand (ZMTP 3.0, NULL mechanism) so that its READY can carry any property, which libzmq's
    own sockets refuse to send (they allow only `X-` names): here a forged `User-Id`."""

    def __init__(self, endpoint: str, properties: dict) -> None:
        host, port = endpoint.removeprefix("tcp://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 0]) + b"NULL".ljust(20, b"\x00") + b"\x00" + b"\x00" * 31
        self.sock.sendall(greeting)
        self._exactly(64)
        body = b"\x05READY"
        for name, value in {"Socket-Type": "DEALER", **properties}.items():
            body += bytes([len(name)]) + name.encode() + struct.pack(">I", len(value)) + value.encode()
        self.sock.sendall(bytes([0x04, len(body)]) + body)
        flags, command = self._frame()
        assert flags & 0x04 and command.startswith(b"\x05READY"), "the broker answers the handshake with READY"

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            assert chunk, "the broker closed the connection"
            data += chunk
        return data

    def _frame(self):
        flags = self._exactly(1)[0]
        size = struct.unpack(">Q", self._exactly(8))[0] if flags & 0x02 else self._exactly(1)[0]
        return flags, self._exactly(size)

    def send_many(self, messages: List[List[bytes]]) -> None:
        """Sends the messages in one write, so that they reach the broker together."""
        out = b""
        for frames in messages:
            for index, frame in enumerate(frames):
                out += bytes([0x01 if index < len(frames) - 1 else 0x00, len(frame)]) + frame
        self.sock.sendall(out)

    def receive(self) -> List[bytes]:
        frames = []
        while True:
            flags, frame = self._frame()
            if flags & 0x04:
                continue  # a command (PING), not a message
            frames.append(frame)
            if not flags & 0x01:
                return frames

    def close(self) -> None:
        self.sock.close()

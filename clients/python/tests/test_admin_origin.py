"""Who the broker believes an ADMIN or STATUS comes from (PROTOCOL.md section 6.15): a peer's own claims in its
ZMTP handshake are not an identity without CURVE, ipc from the broker's own user is this host, and what a peer
names cannot forge a line of the broker's log."""

from __future__ import annotations

import socket
import struct
import time
from typing import List

import zmq

from parley import Status
from parley import wire
from parley.wire import Command


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


def test_a_user_id_claimed_in_the_handshake_does_not_buy_more_status_answers_without_curve(broker):
    """Six connections from one address, each claiming its own User-Id, ask 20 STATUS each at once: the address
    allows 100 a second in all, so some are OVERLOADED (believed, the claims would each get a fresh allowance)."""
    dealers = [RawZMTPDealer(broker.endpoint, {"User-Id": f"forged-{index}"}) for index in range(6)]
    try:
        for dealer in dealers:
            dealer.send_many([[wire.encode(Command.STATUS)]] * 20)
        answered = overloaded = 0
        for dealer in dealers:
            for _ in range(20):
                header = wire.decode(dealer.receive()[0])
                if header.command == Command.STATUS_REPLY:
                    answered += 1
                else:
                    assert header.command == Command.ERROR and header.status == Status.OVERLOADED, header
                    overloaded += 1
        assert overloaded > 0, f"all {answered} STATUS answered: the forged identities each got their own allowance"
        assert answered + overloaded == 120
    finally:
        for dealer in dealers:
            dealer.close()


def admin(endpoint: str, action: str, target: str) -> wire.Header:
    context = zmq.Context.instance()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 10_000)
    try:
        dealer.connect(endpoint)
        dealer.send(wire.encode(Command.ADMIN, action=action, target=target))
        frames = dealer.recv_multipart()
        reply = wire.decode(frames[0])
        reply.fields["text"] = frames[1].decode() if len(frames) > 1 else ""
        return reply
    finally:
        dealer.close()


def test_admin_over_ipc_from_the_brokers_own_user_is_obeyed_without_curve(start_broker, tmp_path):
    broker = start_broker(endpoint=f"ipc://{tmp_path}/broker.sock")
    reply = admin(broker.endpoint, "evict", "nobody")
    assert reply.command == Command.ADMIN_REPLY
    assert reply.status == Status.NO_ROUTE, reply.fields  # obeyed: it looked for the agent, none is registered
    assert "no agent 'nobody' is registered" in reply.text


def test_a_newline_in_an_admin_target_cannot_forge_a_line_of_the_brokers_log(broker):
    reply = admin(broker.endpoint, "evict", "x\nFORGED admin action status=ok")
    assert reply.command == Command.ADMIN_REPLY and reply.status == Status.BAD_REQUEST, reply.fields
    deadline = time.monotonic() + 10
    log = ""
    while "admin action refused" not in log and time.monotonic() < deadline:
        time.sleep(0.05)
        log = broker.log_path.read_text()
    assert "admin action refused" in log, log[-2000:]
    assert not any(line.startswith("FORGED") for line in log.splitlines()), log[-2000:]
    assert "x\\nFORGED admin action" in log, log[-2000:]

"""Who the broker believes an ADMIN or STATUS comes from (PROTOCOL.md section 6.15): a peer's own claims in its
ZMTP handshake are not an identity without CURVE, ipc from the broker's own user is this host, and what a peer
names cannot forge a line of the broker's log."""

from __future__ import annotations

import time

import zmq

from parley import Status
from parley import wire
from parley.wire import Command

from raw_zmtp import RawZMTPDealer


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

"""The Python client against a broker that shuts down gracefully (SIGTERM, docs/PROTOCOL.md §6.14)."""

from __future__ import annotations

import random
import signal
import threading
import time

import zmq

from conftest import wait_until
from parley import Status, wire


def away_agent(endpoint: str, agent_id: str) -> None:
    """Registers ``agent_id`` and drops its connection: once the broker counts it away, requests for it wait."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        sock.send(wire.encode(wire.Command.HELLO, instance=random.getrandbits(64) or 1, agent_id=agent_id,
                              layer="domain", capabilities=[]))
        assert sock.poll(10_000), "no WELCOME"
        assert wire.decode(sock.recv_multipart()[0]).command == wire.Command.WELCOME
    finally:
        sock.close()


def test_requests_outlasting_the_grace_end_unavailable_at_once_each_exactly_once(start_broker, agents):
    broker = start_broker(["--shutdown-grace-ms", "500"])
    helper = agents("py-helper", "domain", ["slow"], broker=broker.endpoint, events=broker.events)
    release = threading.Event()
    handled = []

    @helper.serve
    def slow(request):
        handled.append(request.callback_id)
        release.wait(5)  # outlasts the grace
        return "late"

    helper.connect()
    away_agent(broker.endpoint, "gone")
    asker = agents("py-asker", "domain", broker=broker.endpoint, events=broker.events).connect()
    wait_until("the agent is away", lambda: any(a["id"] == "gone" and a["state"] == "away"
                                                for a in asker.broker_status()["agents"]), timeout=10)
    outcomes = {}

    def ask(name, target):
        outcome = asker.request("help", target, name, timeout=30)
        outcomes.setdefault(name, []).append((outcome.status, outcome.attempts, time.monotonic()))

    targets = {"first": "cap:slow", "second": "cap:slow", "waiting": "agent:gone"}
    threads = [threading.Thread(target=ask, args=item) for item in targets.items()]
    for thread in threads:
        thread.start()

    def delivered_and_waiting():
        status = asker.broker_status()
        return status["pending"] == 3 and any(a["id"] == "py-helper" and a["inFlight"] == 2 for a in status["agents"])

    wait_until("two requests are delivered and one waits", delivered_and_waiting, timeout=10)
    stopped = time.monotonic()
    broker.stop(signal.SIGTERM)
    for thread in threads:
        thread.join(40)
    release.set()
    assert broker.popen.returncode == 0
    # One outcome each, the broker's: UNAVAILABLE with the deliveries made, not a retry that ends at the deadline.
    assert {name: [(status, attempts) for status, attempts, _ in ends] for name, ends in outcomes.items()} == {
        "first": [(Status.UNAVAILABLE, 1)], "second": [(Status.UNAVAILABLE, 1)], "waiting": [(Status.UNAVAILABLE, 0)]}
    # Well before the 30 s deadline (the grace is 0.5 s): a generous bound, not a timing measurement.
    assert max(ends[0][2] for ends in outcomes.values()) - stopped < 10
    assert len(handled) == 2, "each delivered request ran once"

"""Hostile and failing peers: the caller always gets a clear exception, never a hang past its deadline."""

from __future__ import annotations

import os
import random
import socket
import threading
import time

import pytest
import zmq

from conftest import wait_until
from parley import Agent, Gap, ParleyError, Status
from parley import wire
from parley.wire import Command


class FakeBroker:
    """A ROUTER posing as a broker. ``garbage``: answers everything with random bytes; ``welcome-then-garbage``:
    a proper WELCOME to HELLO, random bytes to the rest; ``black-hole``: WELCOME and HEARTBEATs, nothing else."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.context = zmq.Context()
        self.router = self.context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.received = []
        self.running = True
        self.random = random.Random(42)
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def garbage(self):
        shape = self.random.randrange(4)
        if shape == 0:
            return [os.urandom(self.random.randrange(0, 40))]
        if shape == 1:
            return [bytes([0x50, 0x01]) + os.urandom(self.random.randrange(0, 30))]  # almost a header
        if shape == 2:
            return [os.urandom(5), os.urandom(5), os.urandom(5)]  # too many frames
        return [bytes([0x7B]) + os.urandom(20), b"{}"]

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        while self.running:
            if not poller.poll(50):
                continue
            peer, *frames = self.router.recv_multipart()
            self.received.append(frames)
            try:
                command = wire.decode(frames[0]).command
            except wire.DecodeError:
                command = None
            if self.mode != "garbage" and command == Command.HELLO:
                reply = [wire.encode(Command.WELCOME, heartbeat_ms=200, liveness=3, max_body=1 << 20)]
            elif self.mode == "black-hole":
                if command != Command.HEARTBEAT:
                    continue
                reply = [wire.encode(Command.HEARTBEAT)]
            else:
                reply = self.garbage()
            self.router.send_multipart([peer] + reply)
        self.router.close()
        self.context.term()

    def stop(self) -> None:
        self.running = False
        self.thread.join(5)


@pytest.fixture
def fake_broker():
    made = []

    def make(mode: str) -> FakeBroker:
        fake = FakeBroker(mode)
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.stop()


def test_a_broker_answering_garbage_to_hello_fails_connect_clearly_within_its_timeout(fake_broker, agents):
    fake = fake_broker("garbage")
    agent = agents("py-victim", "domain", broker=fake.endpoint, events="tcp://127.0.0.1:1")
    started = time.monotonic()
    with pytest.raises(ParleyError) as refused:
        agent.connect(timeout=1.5)
    elapsed = time.monotonic() - started
    assert refused.value.status == Status.UNAVAILABLE
    assert "no WELCOME" in refused.value.reason and "undecodable" in refused.value.reason, refused.value.reason
    assert 1.4 < elapsed < 1.5 + 2.5
    assert fake.received, "the agent did talk to it"


def test_a_broker_answering_garbage_to_a_request_gives_an_exception_by_the_deadline(fake_broker, agents):
    fake = fake_broker("welcome-then-garbage")
    agent = agents("py-victim", "domain", broker=fake.endpoint, events="tcp://127.0.0.1:1").connect(timeout=3)
    started = time.monotonic()
    with pytest.raises(ParleyError) as failed:
        agent.request_help("cap:anything", {"q": 1}, timeout=1.0)
    elapsed = time.monotonic() - started
    assert failed.value.status in (Status.TIMEOUT, Status.UNAVAILABLE)
    assert "undecodable" in failed.value.reason, failed.value.reason
    assert elapsed < 1.0 + 2.0, f"took {elapsed:.2f} s"
    assert any(frames and frames[0][:3] == bytes([0x50, 0x01, Command.REQUEST]) for frames in fake.received)


def test_a_broker_that_heartbeats_but_never_answers_gives_timeout_after_the_deadline_and_a_grace(fake_broker, agents):
    fake = fake_broker("black-hole")
    agent = agents("py-victim", "domain", broker=fake.endpoint, events="tcp://127.0.0.1:1").connect(timeout=3)
    started = time.monotonic()
    with pytest.raises(ParleyError) as failed:
        agent.request_clarification("agent:someone", "anyone there?", timeout=1.0)
    elapsed = time.monotonic() - started
    assert failed.value.status == Status.TIMEOUT and "no answer from the broker within the deadline" in failed.value.reason
    assert 1.0 <= elapsed < 1.0 + 0.5 + 1.0, f"took {elapsed:.2f} s (grace: 0.5 s)"


def test_the_broker_killed_mid_request_ends_the_request_within_deadline_and_grace(broker, agents):
    helper = agents("py-helper", "domain", ["slow"], broker=broker.endpoint, events=broker.events)
    delivered, release = threading.Event(), threading.Event()

    @helper.serve
    def slow(request):
        delivered.set()
        release.wait(10)
        return "never seen"

    helper.connect()
    asker = agents("py-asker", "domain", broker=broker.endpoint, events=broker.events).connect()
    outcome = {}

    def ask():
        started = time.monotonic()
        try:
            asker.request_help("cap:slow", {"q": 1}, timeout=2.5)
        except ParleyError as error:
            outcome["error"] = error
        outcome["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=ask)
    thread.start()
    assert delivered.wait(5)
    broker.kill()
    thread.join(10)
    release.set()
    assert "error" in outcome, outcome
    assert outcome["error"].status in (Status.TIMEOUT, Status.UNAVAILABLE)
    assert outcome["elapsed"] < 2.5 + 1.5


def test_a_restarted_broker_is_rejoined_and_requests_work_again(start_broker, agents):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    first = start_broker(endpoint=endpoint)
    helper = agents("py-helper", "domain", ["math"], broker=first.endpoint, events=first.events)
    helper.serve(lambda request: request.json * 2)
    helper.connect()
    asker = agents("py-asker", "domain", broker=first.endpoint, events=first.events).connect()
    assert asker.request_help("cap:math", 21) == 42
    first.kill()
    start_broker(endpoint=endpoint)
    # Both agents notice the silence, reconnect and HELLO again by themselves.
    wait_until("the helper has registered again",
               lambda: "py-helper" in {a["id"] for a in asker.broker_status()["agents"]}, timeout=10)
    assert asker.request_help("cap:math", 50, timeout=10) == 100


def free_endpoint() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def test_a_subscriber_reports_a_memory_only_broker_restart_as_a_gap_and_starts_again_at_one(start_broker, agents):
    endpoint, events = free_endpoint(), free_endpoint()
    first = start_broker(endpoint=endpoint, events=events)
    publisher = agents("py-pub", "domain", broker=endpoint, events=events).connect()
    subscriber = agents("py-sub", "observer", broker=endpoint, events=events).connect()
    subscription = subscriber.subscribe("py-pub", start=1)
    for n in (1, 2, 3):
        publisher.publish("on_task_start", f"run 1, event {n}")
    assert [subscription.get(5).sequence for _ in range(3)] == [1, 2, 3]
    first.kill()
    start_broker(endpoint=endpoint, events=events)
    wait_until("both agents have registered again",
               lambda: {"py-pub", "py-sub"} <= {a["id"] for a in subscriber.broker_status()["agents"]}, timeout=10)
    time.sleep(0.5)  # the SUB's subscription reaches the new broker
    assert publisher.publish("on_task_start", "run 2, event 1") == 1
    gap, event = subscription.get(5), subscription.get(5)
    assert isinstance(gap, Gap) and (gap.first, gap.last) == (4, None) and "restarted" in gap.reason
    assert (event.sequence, event.json) == (1, "run 2, event 1")


def test_without_a_gateway_cross_layer_calls_fail_closed_within_their_deadline(broker, agents):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    orders = agents("py-orders", "domain", broker=broker.endpoint, events=broker.events, gateway=nowhere).connect()
    started = time.monotonic()
    with pytest.raises(ParleyError) as failed:
        orders.domain_to_infrastructure({"key": "k"}, "persistence", timeout=1.0)
    assert failed.value.status == Status.UNAVAILABLE and "gateway" in failed.value.reason
    assert time.monotonic() - started < 1.0 + 1.0


def test_a_second_agent_with_a_live_agents_id_is_refused_until_the_first_leaves(broker, agents):
    first = agents("py-twin", "domain", broker=broker.endpoint, events=broker.events).connect()
    twin = agents("py-twin", "domain", broker=broker.endpoint, events=broker.events)
    twin.serve(lambda request: "the twin")
    with pytest.raises(ParleyError) as refused:
        twin.connect(timeout=5)
    assert refused.value.status == Status.UNAUTHORIZED and "held by another live agent" in refused.value.reason
    with pytest.raises(ParleyError) as again:
        twin.request_help("agent:py-twin", {}, timeout=1)
    assert again.value.status == Status.UNAUTHORIZED
    first.close()  # BYE: the id is free
    twin.connect(timeout=5)
    assert twin.request_help("agent:py-twin", {}, timeout=5) == "the twin"


def test_invalid_names_are_refused_before_anything_is_sent():
    for bad in [("a.b", "domain", []), ("ok", "Domain", []), ("ok", "domain", ["do it"]), ("", "domain", [])]:
        with pytest.raises(ValueError):
            Agent(*bad)
    agent = Agent("ok", "domain")
    try:
        with pytest.raises(ValueError):
            agent.subscribe("a.b")
        with pytest.raises(ValueError):
            agent.execute("Presentation", "x", {})
        with pytest.raises(ValueError):
            agent.request_help("cap:", {})
    finally:
        agent.close()


def test_close_ends_open_requests_and_subscriptions(broker, agents):
    helper = agents("py-helper", "domain", ["slow"], broker=broker.endpoint, events=broker.events)
    release = threading.Event()
    helper.serve(lambda request: release.wait(10) and "late")
    helper.connect()
    asker = agents("py-asker", "domain", broker=broker.endpoint, events=broker.events).connect()
    subscription = asker.subscribe("py-helper")
    result = {}
    thread = threading.Thread(target=lambda: result.update(outcome=asker.request("help", "cap:slow", 1, timeout=20)))
    thread.start()
    wait_until("the request is delivered",
               lambda: {a["id"]: a["inFlight"] for a in asker.broker_status()["agents"]}["py-helper"] == 1)
    asker.close()
    thread.join(5)
    release.set()
    assert result["outcome"].status == Status.UNAVAILABLE
    assert subscription.get(1) is None and subscription.closed
    # The helper still answers; the broker caches the outcome for the departed asker (nothing stays pending).
    wait_until("the request has ended at the broker", lambda: helper.broker_status()["pending"] == 0)

#!/usr/bin/env python3
"""A well-behaved agent's round trip while the broker is attacked (issue 12): p50, p99 and worst per attack.

Usage:
    clients/python/.venv/bin/python bench/hostile-load.py .build/release/parley-broker [--seconds 5]

Starts its own broker on free loopback ports, an echo agent and a prober in processes of their own (the prober
sends one help request at a time to the echo agent through the broker and times each round trip), then runs each
attack for `--seconds` from this process while the prober measures:

  quiet         nothing else (the reference)
  hello-flood   one connection sending HELLOs under new ids as fast as it can, never reading
  replay-flood  100,000 topics retained, then 10 connections sending agent-selector REPLAYs, never reading
  status-flood  5,000 agents registered, then 20 connections sending STATUS, never reading

Target (issue 12): p99 under 50 ms during every attack. Uses the Python client's wire module (pyzmq only).
"""
import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from parley import wire  # noqa: E402
from parley.wire import Command, Kind, Status  # noqa: E402

TOPICS = 99_000  # the broker holds 100,000 topics in all
AGENTS = 5_000
MEMBERS = []  # the status flood's registered agents


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def dealer(context: zmq.Context, endpoint: str) -> zmq.Socket:
    sock = context.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)
    sock.connect(endpoint)
    return sock


def hello(agent_id: str, capabilities=(), instance: int = 1) -> bytes:
    return wire.encode(Command.HELLO, instance=instance, agent_id=agent_id, layer="domain", capabilities=list(capabilities))


def echo_agent(endpoint: str) -> None:
    """Answers every delivery at once, heartbeating while idle."""
    sock = dealer(zmq.Context(), endpoint)
    sock.send(hello("echo", ["echo"]))
    last_sent = time.monotonic()
    while True:
        if sock.poll(200):
            frames = sock.recv_multipart()
            header = wire.decode(frames[0])
            if header.command == Command.DELIVER:
                reply = wire.encode(Command.REPLY, delivery_id=header.delivery_id, status=Status.OK)
                sock.send_multipart([reply] + frames[1:2])
                last_sent = time.monotonic()
        if time.monotonic() - last_sent > 0.3:
            sock.send(wire.encode(Command.HEARTBEAT))
            last_sent = time.monotonic()


def prober(endpoint: str, results) -> None:
    """One help request at a time to the echo agent, 2 s deadline; sends (start time, round trip or None) pairs."""
    sock = dealer(zmq.Context(), endpoint)
    sock.send(hello("prober"))
    sock.recv_multipart()  # WELCOME
    batch = []
    while True:
        started = time.monotonic()
        header = wire.encode(Command.REQUEST, callback_id=os.urandom(16), kind=Kind.HELP, timeout_ms=2_000,
                             target="cap:echo", content_type="text/plain")
        sock.send_multipart([header, b"ping"])
        elapsed = None
        while sock.poll(3_000):
            answer = wire.decode(sock.recv_multipart()[0])
            if answer.command == Command.RESULT:
                elapsed = time.monotonic() - started if answer.status == Status.OK else None
                break
        batch.append((started, elapsed))
        if len(batch) >= 50 or elapsed is None:
            results.put(batch)
            batch = []
        time.sleep(0.002)


def flood(context: zmq.Context, endpoint: str, seconds: float, connections: int, burst: int, message, what: str) -> None:
    """Sends from `connections` sockets, `burst` messages each per millisecond, never reading; `message(n)` makes the
    n-th message."""
    socks = [dealer(context, endpoint) for _ in range(connections)]
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        for sock in socks:
            for _ in range(burst):
                sock.send(message(sent))
                sent += 1
        time.sleep(0.001)
    for sock in socks:
        sock.close()
    print(f"  {sent:,} {what} sent")


def attack(name: str, context: zmq.Context, endpoint: str, seconds: float) -> None:
    if name == "hello-flood":
        flood(context, endpoint, seconds, 1, 100, lambda n: hello(f"flood-{n}", instance=n + 1), "HELLOs")
    elif name == "replay-flood":
        replay = wire.encode(Command.REPLAY, selector="callback.topics.", from_=1, to=0)
        flood(context, endpoint, seconds, 10, 1, lambda _: replay, "REPLAYs")
    elif name == "status-flood":
        status = wire.encode(Command.STATUS)
        flood(context, endpoint, seconds, 20, 1, lambda _: status, "STATUS requests")
    else:
        time.sleep(seconds)


def prepare(name: str, context: zmq.Context, endpoint: str) -> None:
    if name == "replay-flood":
        publisher = dealer(context, endpoint)
        publisher.send(hello("topics"))
        publisher.recv_multipart()
        for start in range(0, TOPICS, 1_000):
            for index in range(start, start + 1_000):
                header = wire.encode(Command.PUBLISH, event_id=os.urandom(16), topic=f"callback.topics.e{index}",
                                     content_type="text/plain")
                publisher.send_multipart([header, b"x"])
            for _ in range(1_000):
                publisher.recv_multipart()  # CONFIRM
        print(f"  {TOPICS:,} topics published")
    elif name == "status-flood":
        # One connection per agent: a second HELLO on a connection replaces its registration.
        members_context = zmq.Context()
        members_context.set(zmq.MAX_SOCKETS, AGENTS + 100)  # before its first socket
        members = [dealer(members_context, endpoint) for _ in range(AGENTS)]
        for index, member in enumerate(members):
            member.send(hello(f"member-{index}", ["work"]))
        for member in members:
            member.recv_multipart()  # WELCOME
        MEMBERS.extend(members)  # kept open while the flood runs
        print(f"  {AGENTS:,} agents registered")


def summary(samples) -> str:
    times = sorted(rtt for _, rtt in samples if rtt is not None)
    failed = sum(1 for _, rtt in samples if rtt is None)
    if not times:
        return f"no round trip completed ({failed} failed)"

    def at(fraction: float) -> float:
        return times[min(len(times) - 1, int(fraction * len(times)))] * 1_000

    return (f"{len(times):6,} round trips  p50 {at(0.5):7.2f} ms  p99 {at(0.99):7.2f} ms  max {times[-1] * 1_000:8.2f} ms"
            + (f"  failed {failed}" if failed else ""))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("broker")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", default="quiet,hello-flood,replay-flood,status-flood", help="the attacks to run, comma-separated")
    options = parser.parse_args()
    port, events_port = free_port(), free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    broker = subprocess.Popen([options.broker, "--endpoint", endpoint, "--events-endpoint", f"tcp://127.0.0.1:{events_port}",
                               "--max-topics-per-agent", "100000", "--log-level", "error"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        broker.stdout.readline()  # the ready line
        results = multiprocessing.Queue()
        helpers = [multiprocessing.Process(target=echo_agent, args=(endpoint,), daemon=True),
                   multiprocessing.Process(target=prober, args=(endpoint, results), daemon=True)]
        for helper in helpers:
            helper.start()
        time.sleep(1.0)
        context = zmq.Context()
        verdicts = []
        for name in options.only.split(","):
            print(f"{name}:")
            prepare(name, context, endpoint)
            while not results.empty():
                results.get()
            started = time.monotonic()
            attack(name, context, endpoint, options.seconds)
            ended = time.monotonic()
            time.sleep(0.5)
            samples = []
            while not results.empty():
                samples.extend(sample for sample in results.get() if started <= sample[0] <= ended)
            line = summary(samples)
            print(f"  {line}")
            p99 = sorted(rtt for _, rtt in samples if rtt is not None)
            verdicts.append((name, bool(p99) and p99[min(len(p99) - 1, int(0.99 * len(p99)))] < 0.050
                             and all(rtt is not None for _, rtt in samples)))
        print("p99 under 50 ms and no failed round trip: " + ", ".join(f"{name} {'yes' if ok else 'NO'}" for name, ok in verdicts))
        for helper in helpers:
            helper.terminate()
    finally:
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    main()

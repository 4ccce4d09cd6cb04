#!/usr/bin/env python3
"""Instructions the broker process executes per round trip and per event, counted by valgrind's callgrind.

Usage (release build; valgrind installed):
    clients/python/.venv/bin/python bench/broker-instructions.py .build/release/parley-broker [--round-trips N] [--events N]
        [--publisher-protocol 1.0|1.1]

It starts the broker under `valgrind --tool=callgrind --instr-atstart=no`, registers a raw echo responder and a
raw requester (100 requests in flight, 100-byte bodies) and a raw publisher (1,000 unconfirmed publishes at most,
100-byte bodies; protocol 1.1 by default, so that a turn's events are confirmed in one CONFIRMS, as for the Swift SDK)
with one SUB subscriber, warms each up, then switches instrumentation on for exactly the measured
round trips (or events), dumps, and divides the instructions of every thread of the broker process by their
number. Instruction counts do not depend on how busy the machine is, so the figure is comparable between runs and
between builds; the load itself runs slowly under valgrind, so the broker sees bigger batches than at full speed.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Iterator

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from parley import wire  # noqa: E402
from parley.wire import Command, Kind, Status  # noqa: E402

BODY = b"x" * 100
# A smaller outcome cache than the default (100,000), so that the warm-up fills it and the measurement sees the
# steady state, where every finished request evicts the oldest outcome; the work per message does not depend on it.
OUTCOMES = 10_000
# The broker remembers the ids of the 100,000 most recent events (fixed): the events' warm-up fills that memory.
EVENT_IDS = 100_000


def start_broker(path: str, out_dir: str) -> tuple:
    # valgrind 3.19 reads neither DWARF 5 nor the sigsuspend of dispatch_main(): a copy without debug information,
    # and a preloaded sigsuspend (valgrind-sigsuspend.c) that parks the main thread in pause() instead.
    stripped = os.path.join(out_dir, "parley-broker")
    subprocess.run(["strip", "--strip-debug", "-o", stripped, path], check=True)
    shim = os.path.join(out_dir, "sigsuspend.so")
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "valgrind-sigsuspend.c")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, source], check=True)
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_dir}/callgrind.out.%p",
         stripped, "--endpoint", "tcp://127.0.0.1:*", "--events-endpoint", "tcp://127.0.0.1:*", "--log-level", "error",
         "--events-hwm", "1000000", "--events-queue-bytes", "1GiB", "--dedupe-capacity", str(OUTCOMES)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, LD_PRELOAD=shim))
    line = process.stdout.readline()
    found = re.findall(r"tcp://127\.0\.0\.1:\d+", line)
    if len(found) < 2:
        process.kill()
        raise SystemExit(f"the broker did not say where it listens: {line!r}")
    return process, found[0], found[1]


def registered(context: zmq.Context, endpoint: str, agent_id: str, capabilities: list, features: "int | None" = None) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    socket.send(wire.encode(Command.HELLO, instance=1, agent_id=agent_id, layer="bench", capabilities=capabilities,
                            features=features))
    reply = wire.decode(socket.recv_multipart()[0])
    assert reply.command == Command.WELCOME, reply
    return socket


def instrument(pid: int, on: bool) -> None:
    subprocess.run(["callgrind_control", f"--instr={'on' if on else 'off'}", str(pid)], check=True,
                   stdout=subprocess.DEVNULL)


def dumped_instructions(pid: int, out_dir: str) -> int:
    before = set(glob.glob(f"{out_dir}/callgrind.out.{pid}*"))
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, stdout=subprocess.DEVNULL)
    for _ in range(100):
        fresh = set(glob.glob(f"{out_dir}/callgrind.out.{pid}*")) - before
        if fresh:
            time.sleep(0.5)
            with open(fresh.pop()) as dump:
                for line in dump:
                    if line.startswith("totals:"):
                        return int(line.split()[1])
        time.sleep(0.1)
    raise SystemExit("callgrind wrote no dump")


def arrivals(poller: zmq.Poller, progress) -> Iterator[tuple]:
    """Every message waiting on the poller's sockets after one wait, as (socket, frames); gives up after 30 s idle."""
    ready = poller.poll(30_000)
    if not ready:
        raise SystemExit(f"no progress: {progress()}")
    for socket, _ in ready:
        while True:
            try:
                yield socket, socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break


def round_trips(requester: zmq.Socket, responder: zmq.Socket, count: int, window: int = 100) -> None:
    """`count` REQUEST → DELIVER → REPLY → RESULT round trips with `window` in flight; every one must end OK."""
    poller = zmq.Poller()
    poller.register(requester, zmq.POLLIN)
    poller.register(responder, zmq.POLLIN)

    def send_request() -> None:
        header = wire.encode(Command.REQUEST, callback_id=os.urandom(16), kind=Kind.HELP, timeout_ms=60_000,
                             target="cap:echo", content_type="text/plain")
        requester.send_multipart([header, BODY])

    sent = answered = 0
    while sent < min(window, count):
        send_request()
        sent += 1
    while answered < count:
        for socket, frames in arrivals(poller, lambda: f"{answered} of {count} answered"):
            header = wire.decode(frames[0])
            if socket is responder and header.command == Command.DELIVER:
                reply = wire.encode(Command.REPLY, delivery_id=header.delivery_id, status=Status.OK)
                responder.send_multipart([reply, frames[1]])
            elif socket is requester and header.command == Command.RESULT:
                assert header.status == Status.OK, header
                answered += 1
                if sent < count:
                    send_request()
                    sent += 1


def events(publisher: zmq.Socket, subscriber: zmq.Socket, count: int, first: int, window: int = 1_000) -> None:
    """`count` PUBLISH → CONFIRM (+ EVENT to the subscriber) with `window` unconfirmed; all must arrive in order."""
    poller = zmq.Poller()
    poller.register(publisher, zmq.POLLIN)
    poller.register(subscriber, zmq.POLLIN)

    def send_publish() -> None:
        header = wire.encode(Command.PUBLISH, event_id=os.urandom(16), topic="callback.bench-pub.data",
                             content_type="text/plain")
        publisher.send_multipart([header, BODY])

    sent = confirmed = received = 0
    while sent < min(window, count):
        send_publish()
        sent += 1
    while confirmed < count or received < count:
        for socket, frames in arrivals(poller, lambda: f"{confirmed} confirmed, {received} received of {count}"):
            if socket is subscriber:
                header = wire.decode(frames[1])
                if header.command == Command.EVENT:
                    assert header.sequence == first + received, (header.sequence, first + received)
                    received += 1
                continue
            header = wire.decode(frames[0])
            if header.command == Command.HEARTBEAT:
                continue
            if header.command not in (Command.CONFIRM, Command.CONFIRMS):
                raise SystemExit(f"the broker refused a publish: {header} {frames[1:]}")
            newly = len(header.event_ids) if header.command == Command.CONFIRMS else 1
            confirmed += newly
            for _ in range(min(newly, count - sent)):
                send_publish()
                sent += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("broker")
    parser.add_argument("--round-trips", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--publisher-protocol", choices=["1.0", "1.1"], default="1.1",
                        help="1.1: the publisher asks for confirm batches (CONFIRMS); 1.0: one CONFIRM per event")
    arguments = parser.parse_args()
    out_dir = tempfile.mkdtemp(prefix="parley-callgrind-")
    process, endpoint, events_endpoint = start_broker(arguments.broker, out_dir)
    context = zmq.Context()
    try:
        responder = registered(context, endpoint, "bench-echo", ["echo"])
        requester = registered(context, endpoint, "bench-req", [])
        subscriber = context.socket(zmq.SUB)
        subscriber.setsockopt(zmq.LINGER, 0)
        subscriber.setsockopt(zmq.RCVHWM, 0)
        subscriber.connect(events_endpoint)
        subscriber.setsockopt(zmq.SUBSCRIBE, b"callback.bench-pub.data.")
        time.sleep(1)  # the subscription reaches the XPUB

        round_trips(requester, responder, OUTCOMES + 2_000)  # warm-up: every table has grown, the outcome cache is full
        instrument(process.pid, True)
        round_trips(requester, responder, arguments.round_trips)
        instrument(process.pid, False)
        rr = dumped_instructions(process.pid, out_dir)

        features = wire.FEATURE_CONFIRM_BATCHES if arguments.publisher_protocol == "1.1" else None
        publisher = registered(context, endpoint, "bench-pub", [], features)  # registered now: it would go silent meanwhile
        events(publisher, subscriber, EVENT_IDS + 2_000, first=1)  # warm-up: the event-id memory is full
        instrument(process.pid, True)
        events(publisher, subscriber, arguments.events, first=EVENT_IDS + 2_001)
        instrument(process.pid, False)
        ev = dumped_instructions(process.pid, out_dir)
        print(f"help-rr-w100-100b: {rr / arguments.round_trips:,.0f} instructions per round trip "
              f"({rr:,} for {arguments.round_trips:,})")
        print(f"events-1to1-100b (publisher protocol {arguments.publisher_protocol}): {ev / arguments.events:,.0f} instructions per event "
              f"({ev:,} for {arguments.events:,})")
        print(f"dumps in {out_dir} (callgrind_annotate them to see where the instructions go)")
    finally:
        context.destroy(linger=0)
        process.terminate()
        process.wait(timeout=60)


if __name__ == "__main__":
    main()

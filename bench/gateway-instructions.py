#!/usr/bin/env python3
"""Instructions the gateway process executes per cross-layer call, counted by valgrind's callgrind.

Usage (release builds; valgrind installed):
    clients/python/.venv/bin/python bench/gateway-instructions.py .build/release/parley-gateway \
        .build/release/parley-broker [--calls N] [--audit-log PATH]

It starts the broker at full speed and the gateway in front of it under `valgrind --tool=callgrind
--instr-atstart=no`, with `cross-layer-rr-w100-100b`'s set-up (bench/README.md): a policy allowing domain →
infrastructure, the audit trail to /dev/null, a raw echo responder at the broker (layer `infrastructure`, capability
`echo`) and a raw requester at the gateway (layer `domain`, kind `call` to `layer:infrastructure/echo`, 100 in
flight, 100-byte bodies). It warms up, switches instrumentation on for exactly the measured calls, dumps, and
divides the instructions of every thread of the gateway process by their number. The helpers shared with
bench/broker-instructions.py (callgrind control, reading arrivals) come from that script.
"""
import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Iterator

import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
from parley import wire  # noqa: E402
from parley.wire import Command, Kind, Status  # noqa: E402

_spec = importlib.util.spec_from_file_location("broker_instructions", os.path.join(HERE, "broker-instructions.py"))
broker_instructions = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(broker_instructions)
instrument, dumped_instructions = broker_instructions.instrument, broker_instructions.dumped_instructions
arrivals = broker_instructions.arrivals

BODY = broker_instructions.BODY
WARM_UP = 3_000
POLICY = """version: 1
layers: [domain, infrastructure]
default: deny
rules:
  - name: bench-domain-uses-infrastructure
    comment: gateway-instructions, no rate limit
    from: domain
    to: infrastructure
    kinds: [help, call]
    max_payload: 1MiB
"""


def ready_endpoint(process: subprocess.Popen, prefix: str) -> str:
    """The endpoint on the process's `<prefix> ready on <endpoint>` line."""
    for line in process.stdout:
        if line.startswith(prefix + " ready on "):
            return re.findall(r"tcp://127\.0\.0\.1:\d+", line)[0]
    raise SystemExit(f"{prefix} ended without saying where it listens")


def start_gateway(path: str, broker: str, audit_log: str, out_dir: str) -> tuple:
    # As in broker-instructions.py: valgrind 3.19 reads neither DWARF 5 nor the sigsuspend of dispatch_main().
    stripped = os.path.join(out_dir, "parley-gateway")
    subprocess.run(["strip", "--strip-debug", "-o", stripped, path], check=True)
    shim = os.path.join(out_dir, "sigsuspend.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(HERE, "valgrind-sigsuspend.c")], check=True)
    policy = os.path.join(out_dir, "policy.yaml")
    with open(policy, "w") as file:
        file.write(POLICY)
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_dir}/callgrind.out.%p",
         stripped, "--endpoint", "tcp://127.0.0.1:*", "--broker", broker, "--policy", policy, "--audit-log", audit_log,
         "--log-level", "error"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, LD_PRELOAD=shim))
    return process, ready_endpoint(process, "parley-gateway")


def registered(context: zmq.Context, endpoint: str, agent_id: str, layer: str, capabilities: list) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    socket.send(wire.encode(Command.HELLO, instance=1, agent_id=agent_id, layer=layer, capabilities=capabilities))
    reply = wire.decode(socket.recv_multipart()[0])
    assert reply.command == Command.WELCOME, reply
    return socket


class Load:
    """The requester at the gateway and the echo responder at the broker."""

    def __init__(self, requester: zmq.Socket, responder: zmq.Socket) -> None:
        self.requester, self.responder = requester, responder
        self.poller = zmq.Poller()
        self.poller.register(requester, zmq.POLLIN)
        self.poller.register(responder, zmq.POLLIN)

    def request(self) -> None:
        header = wire.encode(Command.REQUEST, callback_id=os.urandom(16), kind=Kind.CALL, timeout_ms=60_000,
                             target="layer:infrastructure/echo", content_type="text/plain")
        self.requester.send_multipart([header, BODY])

    def results(self, progress) -> Iterator:
        """The RESULTs of one wait, echoing every DELIVER on the way."""
        for socket, frames in arrivals(self.poller, progress):
            header = wire.decode(frames[0])
            if socket is self.responder and header.command == Command.DELIVER:
                self.responder.send_multipart([wire.encode(Command.REPLY, delivery_id=header.delivery_id,
                                                           status=Status.OK), frames[1]])
            elif socket is self.requester and header.command == Command.RESULT:
                yield header, frames[1:]

    def probe(self) -> None:
        """Single calls until one ends OK: the gateway's link to the broker is up (UNAVAILABLE until then)."""
        for _ in range(100):
            self.request()
            statuses = []
            while not statuses:
                statuses = [header.status for header, _ in self.results(lambda: "probing")]
            if statuses[0] == Status.OK:
                return
            time.sleep(0.2)
        raise SystemExit("the gateway never forwarded a call")

    def calls(self, count: int, window: int = 100) -> None:
        """`count` calls (REQUEST → FORWARD → DELIVER → REPLY → RESULT) with `window` in flight; every one OK."""
        sent = answered = 0
        for _ in range(min(window, count)):
            self.request()
            sent += 1
        while answered < count:
            for header, body in self.results(lambda: f"{answered} of {count} answered"):
                assert header.status == Status.OK, (header, body)
                answered += 1
                if sent < count:
                    self.request()
                    sent += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gateway")
    parser.add_argument("broker")
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--audit-log", default="/dev/null", help="the gateway's audit trail (default /dev/null)")
    arguments = parser.parse_args()
    out_dir = tempfile.mkdtemp(prefix="parley-callgrind-gateway-")
    broker = subprocess.Popen([arguments.broker, "--endpoint", "tcp://127.0.0.1:*", "--log-level", "error"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    gateway = None
    context = zmq.Context()
    try:
        broker_endpoint = ready_endpoint(broker, "parley-broker")
        gateway, gateway_endpoint = start_gateway(arguments.gateway, broker_endpoint, arguments.audit_log, out_dir)
        load = Load(registered(context, gateway_endpoint, "bench-req", "domain", []),
                    registered(context, broker_endpoint, "bench-echo", "infrastructure", ["echo"]))
        load.probe()
        load.calls(WARM_UP)
        instrument(gateway.pid, True)
        load.calls(arguments.calls)
        instrument(gateway.pid, False)
        total = dumped_instructions(gateway.pid, out_dir)
        print(f"cross-layer-rr-w100-100b: {total / arguments.calls:,.0f} gateway instructions per call "
              f"({total:,} for {arguments.calls:,})")
        print(f"dumps in {out_dir} (callgrind_annotate them to see where the instructions go)")
    finally:
        context.destroy(linger=0)
        for process in (gateway, broker):
            if process:
                process.terminate()
                process.wait(timeout=60)


if __name__ == "__main__":
    main()

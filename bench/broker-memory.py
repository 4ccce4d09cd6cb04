#!/usr/bin/env python3
"""The broker's resident memory idle, with 1,000 registered agents, and with 100,000 pending requests.

Usage: start a broker (release build, default limits), then
    clients/python/.venv/bin/python bench/broker-memory.py tcp://127.0.0.1:7410 <broker pid>
It reads VmRSS from /proc/<pid>/status, so it runs on the broker's machine. Uses the Python client's wire module.
"""
import json
import os
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from parley import wire  # noqa: E402
from parley.wire import Command, Kind  # noqa: E402


def resident_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def registered(context: zmq.Context, endpoint: str, agent_id: str, capabilities: list) -> zmq.Socket:
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.setsockopt(zmq.SNDHWM, 0)
    socket.connect(endpoint)
    socket.send(wire.encode(Command.HELLO, instance=1, agent_id=agent_id, layer="domain", capabilities=capabilities))
    return socket


def main() -> None:
    endpoint, pid = sys.argv[1], int(sys.argv[2])
    context = zmq.Context()
    print(f"idle: {resident_mib(pid):.1f} MiB")

    agents = [registered(context, endpoint, f"agent-{index}", ["work"]) for index in range(1000)]
    for agent in agents:
        agent.recv_multipart()  # WELCOME
    time.sleep(1)
    print(f"1,000 agents: {resident_mib(pid):.1f} MiB")
    for agent in agents:
        agent.close()
    time.sleep(2)

    # 10 requesters × 10,000 requests (the per-requester limit) for a capability whose only agent never answers.
    sink = registered(context, endpoint, "sink", ["void"])
    sink.recv_multipart()
    requesters = [registered(context, endpoint, f"requester-{index}", []) for index in range(10)]
    body = b"x" * 100
    for requester in requesters:
        requester.recv_multipart()
        for _ in range(10_000):
            header = wire.encode(Command.REQUEST, callback_id=os.urandom(16), kind=Kind.HELP, timeout_ms=600_000,
                                 target="cap:void", content_type="text/plain")
            requester.send_multipart([header, body])
    time.sleep(5)
    status = context.socket(zmq.DEALER)
    status.connect(endpoint)
    status.send(wire.encode(Command.STATUS))
    pending = json.loads(status.recv_multipart()[1])["pending"]
    print(f"{pending:,} pending (100-byte bodies): {resident_mib(pid):.1f} MiB")
    context.destroy(linger=0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Python asyncio client's request/reply rate next to the Swift SDK's, in the same run.

    clients/python/.venv/bin/python bench/python-rr.py [--seconds 5] [--warmup 0.5] [--window 100] [--body 100]

1. Starts .build/release/parley-broker on ephemeral loopback ports, an echo responder (an ``AsyncAgent`` serving
   capability ``echo`` by returning the request's bytes) and a requester (an ``AsyncAgent`` keeping ``--window``
   help requests to ``cap:echo`` in flight, ``--body`` bytes each), each in its own process as the Swift
   scenario has them. The requester counts the OK round trips that end inside the measured window (after the
   warm-up) and reports round trips per second and the latency percentiles.
2. Runs ``.build/release/parley-bench --only sdk-rr-w100-100b --json`` with the same seconds, warm-up, window
   and body size: the same traffic with both agents written with the Swift SDK, on its own broker.
3. Prints both rates and their ratio (goal of issue 17: Python ≥ 0.5 × the Swift SDK); ``--json`` prints one
   JSON object instead.

The client is imported from clients/python (the source tree), so this needs only pyzmq in the interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "clients" / "python"))

from parley import AsyncAgent, AsyncRequest, Kind, Status  # noqa: E402


# -- the two agents (child processes) -----------------------------------------------------------------


async def responder(endpoint: str) -> None:
    agent = AsyncAgent("py-bench-echo", "bench", ["echo"], broker=endpoint, events="tcp://127.0.0.1:1")

    @agent.serve
    async def echo(request: AsyncRequest) -> bytes:
        return request.body

    await agent.connect()
    print("responder ready", flush=True)
    await asyncio.get_running_loop().create_future()  # until killed


async def requester(endpoint: str, window: int, body_bytes: int, warmup: float, seconds: float) -> None:
    agent = AsyncAgent("py-bench-req", "bench", broker=endpoint, events="tcp://127.0.0.1:1")
    await agent.connect()
    body = b"a" * body_bytes
    probe_until = time.monotonic() + 15
    while (await agent.request(Kind.HELP, "cap:echo", body, timeout=2, content_type="application/octet-stream")).status != Status.OK:
        if time.monotonic() > probe_until:
            raise SystemExit("requester: the responder did not answer within 15 s")
        await asyncio.sleep(0.05)
    start = time.monotonic() + warmup
    end = start + seconds
    samples: List[float] = []
    failures = 0

    async def slot() -> None:
        nonlocal failures
        while True:
            sent = time.monotonic()
            if sent >= end:
                return
            outcome = await agent.request(Kind.HELP, "cap:echo", body, content_type="application/octet-stream")
            done = time.monotonic()
            if start <= done < end:
                if outcome.status == Status.OK and outcome.body == body:
                    samples.append(done - sent)
                else:
                    failures += 1

    cpu_start = [0.0]

    async def mark_cpu() -> None:
        await asyncio.sleep(max(0.0, start - time.monotonic()))
        cpu_start[0] = time.process_time()

    await asyncio.gather(mark_cpu(), *(slot() for _ in range(window)))
    cpu = time.process_time() - cpu_start[0]
    await agent.close()
    samples.sort()

    def percentile(p: float) -> float:
        return round(samples[min(len(samples) - 1, int(p * len(samples)))] * 1e6, 1) if samples else 0.0

    print(json.dumps({"messages": len(samples), "failures": failures, "rate": len(samples) / seconds,
                      "p50_us": percentile(0.5), "p99_us": percentile(0.99), "cpu_cores": cpu / seconds}), flush=True)


# -- the harness ------------------------------------------------------------------------------------


def spawn(args: List[str], ready: str, timeout: float = 20.0) -> "tuple[subprocess.Popen[str], re.Match[str]]":
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    pattern = re.compile(ready)
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = pattern.search(line)
        if found:
            return process, found
    process.kill()
    raise SystemExit(f"{args[0]} did not print {ready!r}")


def measure_python(options: argparse.Namespace) -> Dict[str, Any]:
    broker, ready = spawn([str(REPO / ".build" / "release" / "parley-broker"), "--endpoint", "tcp://127.0.0.1:*",
                           "--events-endpoint", "tcp://127.0.0.1:*"], r"parley-broker ready on (\S+) events (\S+)")
    endpoint = ready.group(1)
    me = [sys.executable, __file__]
    children = [broker]
    try:
        echo, _ = spawn(me + ["--role", "responder", "--endpoint", endpoint], "responder ready")
        children.append(echo)
        asker = subprocess.run(me + ["--role", "requester", "--endpoint", endpoint, "--window", str(options.window),
                                     "--body", str(options.body), "--warmup", str(options.warmup),
                                     "--seconds", str(options.seconds)],
                               capture_output=True, text=True, timeout=options.seconds + options.warmup + 60)
        if asker.returncode != 0:
            raise SystemExit(f"requester failed: {asker.stderr[-2000:]}")
        result: Dict[str, Any] = json.loads(asker.stdout.strip().splitlines()[-1])
        return result
    finally:
        for child in reversed(children):
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def measure_swift(options: argparse.Namespace) -> Dict[str, Any]:
    name = f"sdk-rr-w{options.window}-{options.body}b"
    bench = subprocess.run([str(REPO / ".build" / "release" / "parley-bench"), "--only", name, "--json",
                            "--seconds", str(options.seconds), "--warmup", str(options.warmup),
                            "--body-bytes", str(options.body)],
                           capture_output=True, text=True, timeout=options.seconds + options.warmup + 120)
    for line in bench.stdout.splitlines():
        if line.startswith("{"):
            report: Dict[str, Any] = json.loads(line)
            if report.get("name") == name:
                if not report.get("ok"):
                    raise SystemExit(f"parley-bench {name} failed: {report.get('error')}")
                return report
    raise SystemExit(f"parley-bench printed no {name}: {bench.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--role", choices=["bench", "responder", "requester"], default="bench")
    parser.add_argument("--endpoint")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--body", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if options.role == "responder":
        asyncio.run(responder(options.endpoint))
        return
    if options.role == "requester":
        asyncio.run(requester(options.endpoint, options.window, options.body, options.warmup, options.seconds))
        return
    if options.window != 100:
        raise SystemExit("parley-bench's sdk-rr scenarios run with windows 100 and 1: use --window 100")
    python = measure_python(options)
    swift = measure_swift(options)
    ratio = python["rate"] / swift["rate"] if swift["rate"] else 0.0
    if options.json:
        print(json.dumps({"python": python, "swift_sdk": {k: swift[k] for k in ("rate", "p50_us", "p99_us", "failures")},
                          "ratio": round(ratio, 3)}))
        return
    print(f"python asyncio rr  W={options.window} {options.body} B: {python['rate']:>9,.0f} round trips/s  "
          f"p50 {python['p50_us'] / 1000:.2f} ms  p99 {python['p99_us'] / 1000:.2f} ms  failures {python['failures']}  "
          f"requester CPU {python['cpu_cores']:.2f} cores")
    print(f"swift SDK rr       W={options.window} {options.body} B: {swift['rate']:>9,.0f} round trips/s  "
          f"p50 {swift['p50_us'] / 1000:.2f} ms  p99 {swift['p99_us'] / 1000:.2f} ms  failures {swift['failures']}")
    print(f"ratio python / swift SDK: {ratio:.2f} (goal ≥ 0.5)")


if __name__ == "__main__":
    main()

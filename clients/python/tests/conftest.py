"""Fixtures: real parley-broker and parley-gateway processes on ephemeral ports, the `parley` CLI, and
agents that are always closed. Executables come from .build/debug of the repository (PARLEY_BUILD_DIR
overrides)."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

HERE = Path(__file__).resolve().parent
if not os.environ.get("PARLEY_TEST_WHEEL"):
    sys.path.insert(0, str(HERE.parent))  # the package, without installing it

import parley  # noqa: E402
from parley import Agent  # noqa: E402

if os.environ.get("PARLEY_TEST_WHEEL") and Path(parley.__file__).resolve().parent == HERE.parent / "parley":
    raise ImportError(f"PARLEY_TEST_WHEEL is set but parley comes from the source tree: {parley.__file__}")

REPO = HERE.parents[2]
BUILD_DIR = Path(os.environ.get("PARLEY_BUILD_DIR", REPO / ".build" / "debug"))
VECTORS = REPO / "docs" / "conformance" / "vectors.json"
HEARTBEAT_MS = 200

POLICY = """\
version: 1
layers: [presentation, application, domain, infrastructure]
default: deny
rules:
  - name: domain-uses-infrastructure
    comment: The domain calls infrastructure only through the ports it defines.
    from: domain
    to: infrastructure
    kinds: [help, clarification, coordinate, call]
    max_payload: 64KiB
"""


def executable(name: str) -> str:
    path = BUILD_DIR / name
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with `swift build --product {name}` (or set PARLEY_BUILD_DIR)")
    return str(path)


class Process:
    """A child process whose first matching stdout line is awaited; stopped by pid (TERM, then KILL after 5 s)."""

    def __init__(self, args: List[str], ready: str, log_path: Path, timeout: float = 15.0) -> None:
        self.args = args
        self.log_path = log_path
        self.log = open(log_path, "w")
        for attempt in range(50):
            try:
                self.popen = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True, bufsize=1)
                break
            except OSError as error:  # ETXTBSY: SwiftPM is relinking the executable right now
                if error.errno != errno.ETXTBSY or attempt == 49:
                    self.log.close()
                    raise
                time.sleep(0.2)
        self.lines: List[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.match = self._wait_for(re.compile(ready), timeout)

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    def _wait_for(self, pattern: "re.Pattern[str]", timeout: float) -> "re.Match[str]":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = pattern.search(line)
                if found:
                    return found
            if self.popen.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.01)
        self.stop()
        raise AssertionError(f"{self.args[0]} did not print {pattern.pattern!r}; stdout: {self.lines}; "
                             f"stderr: {self.log_path.read_text()[-2000:]}")

    def output_contains(self, text: str, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in list(self.lines)):
                return True
            time.sleep(0.05)
        return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)
        self._reader.join(timeout=2)
        if self.popen.stdout is not None and not self._reader.is_alive():
            self.popen.stdout.close()
        self.log.close()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)


class Broker(Process):
    def __init__(self, log_path: Path, extra: Optional[List[str]] = None, endpoint: str = "tcp://127.0.0.1:*",
                 events: str = "tcp://127.0.0.1:*") -> None:
        args = [executable("parley-broker"), "--endpoint", endpoint, "--events-endpoint", events,
                "--heartbeat-ms", str(HEARTBEAT_MS)] + (extra or [])
        super().__init__(args, r"parley-broker ready on (\S+) events (\S+)", log_path)
        self.endpoint, self.events = self.match.group(1), self.match.group(2)


class Gateway(Process):
    def __init__(self, broker: Broker, policy: Path, audit: Path, log_path: Path, extra: Optional[List[str]] = None) -> None:
        args = [executable("parley-gateway"), "--endpoint", "tcp://127.0.0.1:*", "--broker", broker.endpoint,
                "--policy", str(policy), "--audit-log", str(audit), "--heartbeat-ms", str(HEARTBEAT_MS)] + (extra or [])
        super().__init__(args, r"parley-gateway ready on (\S+)", log_path)
        self.endpoint = self.match.group(1)
        self.audit = audit


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[List[Process]]:
    """Every process a test starts; all stopped at the end, whatever happened."""
    started: List[Process] = []
    yield started
    for process in reversed(started):
        process.stop()


@pytest.fixture
def start_broker(processes: List[Process], tmp_path: Path) -> Callable[..., Broker]:
    def start(extra: Optional[List[str]] = None, **kwargs: str) -> Broker:
        broker = Broker(tmp_path / f"broker-{len(processes)}.log", extra, **kwargs)
        processes.append(broker)
        return broker
    return start


@pytest.fixture
def broker(start_broker: Callable[..., Broker]) -> Broker:
    return start_broker()


@pytest.fixture
def gateway(broker: Broker, processes: List[Process], tmp_path: Path) -> Gateway:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    gateway = Gateway(broker, policy, tmp_path / "audit.jsonl", tmp_path / "gateway.log")
    processes.append(gateway)
    return gateway


@pytest.fixture
def swift(broker: Broker, processes: List[Process], tmp_path: Path):
    """The `parley` CLI against the test's broker: `swift.run(...)` to completion, `swift.serve(...)` in the background."""

    class Swift:
        def run(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess:
            command = [executable("parley"), args[0], "--broker", broker.endpoint, "--events", broker.events, *args[1:]]
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout)

        def serve(self, agent_id: str, *extra: str) -> Process:
            command = [executable("parley"), "serve", "--broker", broker.endpoint, "--events", broker.events,
                       "--id", agent_id, *extra]
            process = Process(command, rf"agent {re.escape(agent_id)} serving", tmp_path / f"serve-{agent_id}.log")
            processes.append(process)
            return process

    return Swift()


@pytest.fixture
def agents() -> Iterator[Callable[..., Agent]]:
    """Makes agents that are closed at the end of the test."""
    made: List[Agent] = []

    def make(*args, **kwargs) -> Agent:
        agent = Agent(*args, **kwargs)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


def wait_until(what: str, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")

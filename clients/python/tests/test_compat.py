"""parley.compat: the original specification's classes and methods, against a real broker and a gateway with
the default policy (deploy/policy.yaml, the one `make run` loads). The top-level README shows
examples/spec_usage.py, which runs here unchanged."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest

from conftest import REPO, Gateway
from test_asyncio import in_thread, make, run
from parley import Decline, Fail, ParleyError, Status
from parley.compat import (AgentEventBus, CallbackCommunicationSystem, CallbackEvent, CrossLayerCallbackProtocol,
                           DomainCallback, GameStyleEventHandlers, HelpResponse, InfrastructureCallback,
                           LayerCallback)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "spec_usage.py"


@pytest.fixture
def default_gateway(broker, processes, tmp_path) -> Gateway:
    gateway = Gateway(broker, REPO / "deploy" / "policy.yaml", tmp_path / "audit.jsonl", tmp_path / "gateway.log")
    processes.append(gateway)
    return gateway


def bus_for(broker, gateway=None) -> AgentEventBus:
    return AgentEventBus(broker.endpoint, broker.events, gateway.endpoint if gateway else "tcp://127.0.0.1:1")


def test_the_top_level_readme_shows_the_spec_usage_example_unchanged():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def test_the_spec_usage_example_runs_against_a_broker_and_the_default_policy_gateway(broker, default_gateway):
    environment = dict(os.environ)
    if not os.environ.get("PARLEY_TEST_WHEEL"):
        environment["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, str(EXAMPLE), broker.endpoint, broker.events, default_gateway.endpoint],
                            capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["{'product': 42}", "{'saved': 17, 'asked by': 'domain'}",
                                          "['started 6*7', RuntimeError('no GPU left')]"]
    audit = default_gateway.audit.read_text()
    assert '"caller":"cross-layer-domain","from_layer":"domain","to_layer":"infrastructure"' in audit


class Helper:
    def __init__(self) -> None:
        self.events: List[CallbackEvent] = []

    async def handle_callback(self, event: CallbackEvent) -> Any:
        self.events.append(event)
        problem = event.payload["problem"]
        if problem.get("decline"):
            raise Decline("not my field")
        if problem.get("crash"):
            raise KeyError("missing")
        if problem.get("sleep"):
            await asyncio.sleep(problem["sleep"])
        return {"answer": sum(problem["add"])}


def test_callback_communication_system_request_help_round_trip_and_failures(broker):
    async def main():
        async with bus_for(broker) as event_bus:
            system = CallbackCommunicationSystem(event_bus)
            helper = Helper()
            await system.register_callback_handler("adder", helper)
            assert system.callback_handlers == {"adder": helper}

            response = await system.request_help("asker", "adder", {"add": [1, 2, 3]})
            assert isinstance(response, HelpResponse)
            assert (response.response, response.from_agent, response.to_agent) == ({"answer": 6}, "adder", "asker")
            event = helper.events[-1]
            assert (event.type, event.callback_id) == ("help_request", response.callback_id)
            assert event.payload["from_agent"] == "asker" and event.payload["to_agent"] == "adder"
            assert system.pending_callbacks == {}

            many = await asyncio.gather(*(system.request_help(f"asker-{n % 3}", "adder", {"add": [n, 1]})
                                          for n in range(50)))
            assert [r.response["answer"] for r in many] == [n + 1 for n in range(50)]
            assert len({r.callback_id for r in many}) == 50

            with pytest.raises(ParleyError) as error:
                await system.request_help("asker", "adder", {"decline": True})
            assert (error.value.status, error.value.reason) == (Status.DECLINED, "not my field")
            with pytest.raises(ParleyError) as error:
                await system.request_help("asker", "adder", {"crash": True})
            assert error.value.status == Status.FAILED and "KeyError" in error.value.reason
            with pytest.raises(ParleyError) as error:
                await system.request_help("asker", "nobody", {"add": [1]})
            assert error.value.status == Status.NO_ROUTE
            started = time.monotonic()
            with pytest.raises(ParleyError) as error:
                await system.request_help("asker", "adder", {"sleep": 5}, timeout=1)
            assert error.value.status == Status.TIMEOUT
            assert time.monotonic() - started < 3.0
            assert system.pending_callbacks == {}

    run(main)


class Flaky:
    """Serves a layer: fails (or stalls) the first ``bad`` calls, then answers with what it was asked."""

    def __init__(self, bad: int, stall: float = 0.0) -> None:
        self.bad = bad
        self.stall = stall
        self.calls: List[LayerCallback] = []

    async def handle_callback(self, callback: LayerCallback) -> Any:
        self.calls.append(callback)
        if len(self.calls) <= self.bad:
            if self.stall:
                await asyncio.sleep(self.stall)
            else:
                raise Fail(f"transient #{len(self.calls)}")
        return {"kind": type(callback).__name__, "need": callback.need, "from": callback.source_layer,
                "fields": {k: v for k, v in callback.to_dict().items() if k not in ("source_layer", "target_layer")}}


def test_cross_layer_callbacks_go_through_the_gateway_with_timeout_and_three_retries(broker, default_gateway):
    async def main():
        async with bus_for(broker, default_gateway) as event_bus:
            protocol = CrossLayerCallbackProtocol(event_bus, base_backoff=0.05)
            storage, pricing = Flaky(bad=2), Flaky(bad=0)
            await protocol.serve_layer("infrastructure", "persistence", storage)
            await protocol.serve_layer("domain", ["pricing"], pricing)

            answer = await protocol.domain_to_infrastructure_callback({"order": 7}, "persistence")
            assert answer == {"kind": "InfrastructureCallback", "need": "persistence", "from": "domain",
                              "fields": {"context": {"order": 7}, "request": "persistence",
                                         "callback": "InfrastructureCallback"}}
            assert len(storage.calls) == 3  # two FAILED, then the answer: retried
            assert isinstance(storage.calls[0], InfrastructureCallback)

            answer = await protocol.application_to_domain_callback("checkout", "pricing")
            assert answer["kind"] == "DomainCallback" and answer["from"] == "application"
            assert answer["fields"]["use_case"] == "checkout"

            always = Flaky(bad=100)
            await protocol.serve_layer("infrastructure", "mail", always)
            with pytest.raises(ParleyError) as error:
                await protocol.domain_to_infrastructure_callback({"to": "x"}, "mail")
            assert (error.value.status, error.value.attempts) == (Status.FAILED, 4)  # 1 + 3 retries
            assert len(always.calls) == 4

            # infrastructure → domain is not in the default policy: UNAUTHORIZED at once, never retried
            with pytest.raises(ParleyError) as error:
                await protocol.execute_cross_layer_callback(
                    DomainCallback(source_layer="infrastructure", target_layer="domain", use_case="x",
                                   expertise_needed="pricing"))
            assert (error.value.status, error.value.attempts) == (Status.UNAUTHORIZED, 1)
            assert len(pricing.calls) == 1

    run(main)


def test_cross_layer_callback_times_out_per_attempt_and_retries(broker, default_gateway):
    async def main():
        async with bus_for(broker, default_gateway) as event_bus:
            protocol = CrossLayerCallbackProtocol(event_bus, timeout=1, base_backoff=0.05)
            slow = Flaky(bad=1, stall=5.0)
            await protocol.serve_layer("infrastructure", "search", slow)
            started = time.monotonic()
            answer = await protocol.domain_to_infrastructure_callback({"q": "parley"}, "search")
            assert answer["need"] == "search" and len(slow.calls) == 2
            assert 0.9 < time.monotonic() - started < 4.0

            stuck = Flaky(bad=100, stall=5.0)
            await protocol.serve_layer("infrastructure", "stuck", stuck)
            protocol.max_retries = 1
            with pytest.raises(ParleyError) as error:
                await protocol.domain_to_infrastructure_callback({}, "stuck")
            assert (error.value.status, error.value.attempts) == (Status.TIMEOUT, 2)

    run(main)


def test_game_style_event_handlers_as_the_specification_and_through_the_broker(broker, swift):
    async def main():
        handlers = GameStyleEventHandlers()
        calls: List[Any] = []

        async def first(data: Dict[str, Any]) -> str:
            calls.append(("first", data))
            return "first"

        def plain(data: Dict[str, Any]) -> int:
            raise ValueError("plain handler broke")

        async def third(data: Dict[str, Any]) -> int:
            return data["level"] * 10

        handlers.register_handler("on_task_start", first)
        handlers.register_handler("on_task_start", plain)
        handlers.register_handler("on_task_start", third)
        handlers.register_handler("on_made_up", first)  # unknown: ignored, as in the specification
        results = await handlers.trigger_event("on_task_start", {"level": 2})
        assert results is not None and results[0] == "first" and results[2] == 20
        assert isinstance(results[1], ValueError) and str(results[1]) == "plain handler broke"
        assert await handlers.trigger_event("on_made_up", {}) is None
        assert await handlers.trigger_event("on_error", {}) == []
        assert calls == [("first", {"level": 2})]

        # through the broker: one agent's triggers run another agent's handlers
        async with make(broker, "py-game") as game, make(broker, "py-watcher") as watcher:
            publisher, follower = GameStyleEventHandlers(game), GameStyleEventHandlers(watcher)
            seen: "asyncio.Queue[Any]" = asyncio.Queue()
            follower.register_handler("on_resource_low", seen.put)
            follower.register_handler("on_task_start", seen.put)
            await follower.follow("py-game")
            await follower.follow("swift-game")
            await asyncio.sleep(0.3)
            assert await publisher.trigger_event("on_resource_low", {"gpu": 0}) == []
            assert await asyncio.wait_for(seen.get(), 10) == {"gpu": 0}
            result = await in_thread(lambda: swift.run("publish", "--topic", "callback.swift-game.on_task_start",
                                                       "--json", '{"from":"swift"}'))
            assert result.returncode == 0, result.stderr
            assert await asyncio.wait_for(seen.get(), 10) == {"from": "swift"}
            follower.close()

    run(main)

"""The asyncio API (parley.aio.AsyncAgent) against the real broker and gateway, Swift agents and the
thread-based Agent. Each test runs one event loop with asyncio.run; no timing assertions but generous limits."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Awaitable, Callable, List

import pytest

from conftest import wait_until
from parley import AsyncAgent, AsyncRequest, Decline, Event, Fail, ParleyError, Status


def run(test: Callable[[], Awaitable[Any]], limit: float = 120.0) -> Any:
    return asyncio.run(asyncio.wait_for(test(), limit))


def make(broker, agent_id, layer="domain", capabilities=(), **kwargs) -> AsyncAgent:
    return AsyncAgent(agent_id, layer, capabilities, broker=broker.endpoint, events=broker.events, **kwargs)


async def in_thread(function, *args):
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def test_async_requests_and_replies_both_ways_with_async_swift_and_thread_agents(broker, swift, agents):
    swift.serve("swift-echo", "--cap", "echo")
    sync_asker = agents("py-sync", "domain", broker=broker.endpoint, events=broker.events)

    async def main():
        helper = make(broker, "py-async-helper", capabilities=["math"])
        seen: List[tuple] = []

        @helper.serve
        async def multiply(request: AsyncRequest):
            seen.append((request.kind, request.requester, request.requester_layer))
            await asyncio.sleep(0)
            return {"product": request.json["a"] * request.json["b"], "for": request.requester}

        async with helper, make(broker, "py-async-asker") as asker:
            assert await asker.request_help("cap:math", {"a": 6, "b": 7}) == {"product": 42, "for": "py-async-asker"}
            assert await asker.request_clarification("agent:py-async-helper", {"a": 2, "b": 3}) == {"product": 6, "for": "py-async-asker"}
            assert await asker.request_help("agent:swift-echo", {"n": [1, 2]}) == {"n": [1, 2]}
            assert await asker.request_clarification("cap:echo", "which units?") == "which units?"
            sync_asker.connect()
            assert await in_thread(sync_asker.request_help, "cap:math", {"a": 3, "b": 5}) == {"product": 15, "for": "py-sync"}
            result = await in_thread(lambda: swift.run("request", "--to", "agent:py-async-helper", "--json", '{"a":4,"b":4}'))
            assert result.returncode == 0, result.stdout + result.stderr
            assert json.loads(result.stdout.strip().splitlines()[-1])["product"] == 16
        assert [kind for kind, _, _ in seen] == ["help", "clarification", "help", "help"]
        assert seen[0][1:] == ("py-async-asker", "domain")

    run(main)


def test_decline_fail_and_a_raising_async_handler_become_declined_and_failed_with_the_reason(broker):
    async def main():
        helper = make(broker, "py-judge", capabilities=["judge"])

        @helper.serve
        async def judge(request: AsyncRequest):
            if request.json == "decline":
                raise Decline("not my department")
            if request.json == "fail":
                raise Fail("the database is down")
            raise RuntimeError("boom")

        async with helper, make(broker, "py-asker") as asker:
            for payload, status, reason in [("decline", Status.DECLINED, "not my department"),
                                            ("fail", Status.FAILED, "the database is down"),
                                            ("raise", Status.FAILED, "RuntimeError: boom")]:
                with pytest.raises(ParleyError) as error:
                    await asker.request_help("cap:judge", payload)
                assert (error.value.status, error.value.reason) == (status, reason)

    run(main)


def test_cancelling_an_awaiting_task_sends_cancel_the_handler_is_cancelled_and_the_call_ends_cancelled(broker, agents):
    observer = agents("py-observer", "domain", broker=broker.endpoint, events=broker.events)

    async def main():
        helper = make(broker, "py-slow", capabilities=["slow"])
        started, handler_cancelled = asyncio.Event(), asyncio.Event()
        requests: List[AsyncRequest] = []

        @helper.serve
        async def slow(request: AsyncRequest):
            requests.append(request)
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                handler_cancelled.set()
                raise
            return "never"

        async with helper, make(broker, "py-asker") as asker:
            call = asyncio.ensure_future(asker.request_help("cap:slow", {"q": 1}, timeout=30))
            await asyncio.wait_for(started.wait(), 10)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await asyncio.wait_for(handler_cancelled.wait(), 10)  # REVOKE reached the handler's side
            assert requests[0].revoked
            for _ in range(100):
                status = await in_thread(observer.broker_status)
                if status["outcomes"]["CANCELLED"] == 1:
                    break
                await asyncio.sleep(0.1)
            assert status["outcomes"]["CANCELLED"] == 1, status["outcomes"]

    run(main)


def test_the_broker_killed_mid_call_ends_it_with_a_clear_error_within_the_deadline_and_grace(broker):
    timeout, grace = 2.5, 0.5  # grace: max(0.5 s, 2 heartbeats), README "Deadlines"

    async def main():
        helper = make(broker, "py-slow", capabilities=["slow"])
        started = asyncio.Event()

        @helper.serve
        async def slow(request: AsyncRequest):
            started.set()
            await asyncio.sleep(60)

        async with helper, make(broker, "py-asker") as asker:
            call = asyncio.ensure_future(asker.request_help("cap:slow", {"q": 1}, timeout=timeout))
            await asyncio.wait_for(started.wait(), 10)
            began = time.monotonic()
            broker.kill()
            with pytest.raises(ParleyError) as error:
                await call
            assert error.value.status in (Status.TIMEOUT, Status.UNAVAILABLE)
            assert "broker" in error.value.reason
            assert time.monotonic() - began < timeout + grace + 1.0  # generous: the call began before `began`

    run(main)


def test_closing_the_agent_ends_every_pending_call_with_a_clear_error(broker):
    async def main():
        helper = make(broker, "py-slow", capabilities=["slow"])

        @helper.serve
        async def slow(request: AsyncRequest):
            await asyncio.sleep(60)

        async with helper:
            asker = await make(broker, "py-asker").connect()
            calls = [asyncio.ensure_future(asker.request_help("cap:slow", n, timeout=30)) for n in range(5)]
            await asyncio.sleep(0.5)
            await asker.close()
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(o, ParleyError) and o.status == Status.UNAVAILABLE and o.reason == "the agent closed"
                       for o in outcomes), outcomes
            with pytest.raises(ParleyError) as closed:
                await asker.request_help("cap:slow", 1)
            assert closed.value.reason == "the agent is closed"

    run(main)


def test_a_thousand_concurrent_request_help_awaits_from_one_loop_are_all_correlated(broker):
    async def main():
        helper = make(broker, "py-double", capabilities=["double"])

        @helper.serve
        async def double(request: AsyncRequest):
            return {"n": request.json["n"], "double": 2 * request.json["n"], "for": request.requester}

        async with helper, make(broker, "py-asker") as asker:
            answers = await asyncio.gather(*(asker.request_help("cap:double", {"n": n}, timeout=60) for n in range(1000)))
        assert answers == [{"n": n, "double": 2 * n, "for": "py-asker"} for n in range(1000)]

    run(main)


def test_events_arrive_in_order_through_async_for_from_async_thread_and_swift_publishers(broker, swift, agents):
    thread_publisher = agents("py-thread-pub", "domain", broker=broker.endpoint, events=broker.events).connect()

    async def main():
        async with make(broker, "py-pub") as publisher, make(broker, "py-sub") as subscriber:
            assert [await publisher.publish("on_task_start", {"n": n}) for n in (1, 2, 3)] == [1, 2, 3]
            received: List[Event] = []
            async with subscriber.subscribe("py-pub", start=1) as events:
                async for notice in events:
                    assert isinstance(notice, Event)
                    received.append(notice)
                    if len(received) == 3:
                        break
            assert [(e.sequence, e.json, e.name) for e in received] == [(n, {"n": n}, "on_task_start") for n in (1, 2, 3)]

            live = subscriber.subscribe("py-thread-pub", events=["on_task_complete"])
            swift_events = subscriber.subscribe("swift-pub", start=1)
            await asyncio.sleep(0.5)  # the SUB socket joins (a live subscription starts from now)
            report = await publisher.trigger("on_task_complete", "ignored: another agent's topic")
            assert report.sequence == 1
            await in_thread(thread_publisher.publish, "on_task_complete", {"from": "thread"})
            notice = await live.get(timeout=10)
            assert isinstance(notice, Event) and notice.json == {"from": "thread"} and notice.agent == "py-thread-pub"
            result = await in_thread(lambda: swift.run("publish", "--topic", "callback.swift-pub.on_task_start", "--json", '{"n":9}'))
            assert result.returncode == 0, result.stdout + result.stderr
            notice = await swift_events.get(timeout=10)
            assert isinstance(notice, Event) and notice.json == {"n": 9} and notice.sequence == 1
            live.close()
            assert await live.get(timeout=1) is None

    run(main)


def test_cross_layer_calls_through_the_gateway_from_the_asyncio_api(broker, gateway, swift):
    swift.serve("swift-db", "--layer", "infrastructure", "--cap", "persistence")

    async def main():
        async with make(broker, "py-orders", gateway=gateway.endpoint) as orders:
            assert await orders.domain_to_infrastructure({"key": "order-7"}, "persistence", timeout=10) == {"key": "order-7"}
            with pytest.raises(ParleyError) as denied:
                await orders.execute("presentation", "render", {"x": 1}, timeout=5, retries=0)
            assert denied.value.status == Status.UNAUTHORIZED

    run(main)
    wait_until("the audit record is written", lambda: gateway.audit.exists() and gateway.audit.read_text().strip())
    record = json.loads(gateway.audit.read_text().splitlines()[0])
    assert (record["verdict"], record["caller"], record["to_layer"]) == ("allow", "py-orders", "infrastructure")

"""coordinate(..., gather="all" | "first" | n) on AsyncAgent and Agent against the real broker, with Python
and Swift agents as the legs' targets."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Dict, List

import pytest

from test_asyncio import make, run
from parley import AsyncAgent, AsyncRequest, Decline, ParleyError, Status


def helpers(broker, cancelled: List[str], seen: List[str]) -> List[AsyncAgent]:
    """Four voters: fast (answers at once), slow (5 s), no (declines), mid (2 s); slow and mid record their
    cancellation. The delays leave a CANCEL seconds to arrive, so that a busy machine does not fail the tests."""
    made = []
    for name, delay, vote in [("fast", 0.0, "yes"), ("slow", 5.0, "yes"), ("no", 0.0, None), ("mid", 2.0, "yes")]:
        agent = make(broker, f"py-{name}", capabilities=["vote"])

        def handler(name: str, delay: float, vote: Any):
            async def answer(request: AsyncRequest) -> Any:
                seen.append(f"{name}:{request.kind}")
                try:
                    await asyncio.sleep(delay)
                except asyncio.CancelledError:
                    cancelled.append(name)
                    raise
                if vote is None:
                    raise Decline("abstains")
                return {"voter": name, "vote": vote, "task": request.json}
            return answer

        agent.serve(handler(name, delay, vote))
        made.append(agent)
    return made


TARGETS = ["agent:py-fast", "agent:py-slow", "agent:py-no", "agent:py-mid"]


async def eventually(what: str, condition, timeout: float = 10.0, state=lambda: "") -> None:
    """Waits, without blocking the event loop, until `condition()` holds; `state()` goes in the failure."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what} {state()}")
        await asyncio.sleep(0.02)


def test_async_coordinate_all_first_and_quorum(broker):
    cancelled: List[str] = []
    seen: List[str] = []

    async def main():
        voters = helpers(broker, cancelled, seen)
        for voter in voters:
            await voter.connect()
        async with make(broker, "py-coordinator") as coordinator:
            replies = await coordinator.coordinate(TARGETS, {"plan": "A"}, gather="all", timeout=10)
            assert sorted(r.target for r in replies) == sorted(TARGETS)
            by_target = {r.target: r for r in replies}
            assert by_target["agent:py-slow"].answer == {"voter": "slow", "vote": "yes", "task": {"plan": "A"}}
            assert (by_target["agent:py-no"].answered, by_target["agent:py-no"].outcome.status) == (False, Status.DECLINED)
            assert by_target["agent:py-no"].outcome.text == "abstains"
            assert replies[-1].target == "agent:py-slow"  # in order of arrival
            assert all(kind.endswith(":coordinate") for kind in seen)

            started = time.monotonic()
            replies = await coordinator.coordinate(TARGETS, {"plan": "B"}, gather="first", timeout=10)
            answered = [r for r in replies if r.answered]
            assert [r.answer["voter"] for r in answered] == ["fast"]
            assert time.monotonic() - started < 4.0  # did not wait for the slow one
            await eventually("the other legs got CANCEL", lambda: cancelled.count("slow") == 1 and cancelled.count("mid") == 1,
                             state=lambda: f"cancelled: {cancelled}, seen: {seen}")

            replies = await coordinator.coordinate(TARGETS, "C", gather=2, timeout=10)
            assert sorted(r.answer["voter"] for r in replies if r.answered) == ["fast", "mid"]
            await eventually("slow got CANCEL", lambda: cancelled.count("slow") == 2)

            with pytest.raises(ParleyError) as error:  # only three can say yes
                await coordinator.coordinate(TARGETS, "D", gather=4, timeout=10)
            assert error.value.status == Status.FAILED
            assert error.value.reason == "coordination got 3 answer(s); 4 needed"

            with pytest.raises(ParleyError) as error:
                await coordinator.coordinate(["agent:py-no", "agent:nobody-here"], "E", gather="first", timeout=5)
            assert (error.value.status, error.value.reason) == (Status.FAILED, "coordination got 0 answer(s); 1 needed")

            with pytest.raises(ValueError):
                await coordinator.coordinate(TARGETS, "F", gather="most")
            with pytest.raises(ValueError):
                await coordinator.coordinate([], "G")
        for voter in voters:
            await voter.close()

    run(main)


def test_cancelling_an_async_coordination_cancels_every_leg(broker):
    cancelled: List[str] = []

    async def main():
        seen: List[str] = []
        voters = helpers(broker, cancelled, seen)
        for voter in voters:
            await voter.connect()
        async with make(broker, "py-coordinator") as coordinator:
            task = asyncio.ensure_future(coordinator.coordinate(["agent:py-slow", "agent:py-mid"], "X", timeout=10))
            await eventually("both legs are being served", lambda: len(seen) == 2)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await eventually("both legs got CANCEL", lambda: sorted(cancelled) == ["mid", "slow"])
        for voter in voters:
            await voter.close()

    run(main)


def test_thread_agent_coordinates_python_and_swift_agents(broker, swift, agents):
    swift.serve("swift-voter", "--cap", "echo")
    cancelled: List[str] = []
    coordinator = agents("py-sync-coordinator", "domain", broker=broker.endpoint, events=broker.events)

    async def serve_and_wait(stop: asyncio.Event, ready: asyncio.Event):
        voters = helpers(broker, cancelled, [])
        for voter in voters:
            await voter.connect()
        ready.set()
        await stop.wait()
        for voter in voters:
            await voter.close()

    results: Dict[str, Any] = {}

    async def main():
        stop, ready = asyncio.Event(), asyncio.Event()
        server = asyncio.ensure_future(serve_and_wait(stop, ready))
        await ready.wait()
        loop = asyncio.get_running_loop()
        coordinator.connect()
        results["all"] = await loop.run_in_executor(
            None, lambda: coordinator.coordinate(["agent:swift-voter", "agent:py-fast", "agent:py-no"], {"n": 1}, timeout=10))
        results["first"] = await loop.run_in_executor(
            None, lambda: coordinator.coordinate(["agent:py-slow", "agent:swift-voter"], {"n": 2}, gather="first", timeout=10))
        try:
            await loop.run_in_executor(None, lambda: coordinator.coordinate(["agent:py-no"], {"n": 3}, gather=1, timeout=5))
        except ParleyError as error:
            results["short"] = error
        await eventually("slow got CANCEL", lambda: cancelled == ["slow"])
        stop.set()
        await server

    run(main)
    by_target = {r.target: r for r in results["all"]}
    assert by_target["agent:swift-voter"].answer == {"n": 1}  # the Swift agent echoes
    assert by_target["agent:py-fast"].answer == {"voter": "fast", "vote": "yes", "task": {"n": 1}}
    assert by_target["agent:py-no"].outcome.status == Status.DECLINED
    assert [(r.target, r.answer) for r in results["first"] if r.answered] == [("agent:swift-voter", {"n": 2})]
    assert cancelled == ["slow"]
    assert results["short"].status == Status.FAILED

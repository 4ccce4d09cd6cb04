"""Local game-style handlers: priorities, once-handlers, value passing, stop-propagation, error isolation."""

from __future__ import annotations

import pytest

from parley import STOP, EventBus, EventContext, Stop


def context(name="on_task_start", data=b'{"task":7}'):
    return EventContext(name, "tester", data)


def test_handlers_run_highest_priority_first_then_in_registration_order():
    bus, ran = EventBus(), []
    bus.on("on_task_start", lambda e: ran.append("low"), priority=-1)
    bus.on("on_task_start", lambda e: ran.append("first-0"))
    bus.on("on_task_start", lambda e: ran.append("high"), priority=10)
    bus.on("on_task_start", lambda e: ran.append("second-0"))
    report = bus.dispatch(context())
    assert ran == ["high", "first-0", "second-0", "low"]
    assert report.handled == 4 and not report.stopped and not report.unhandled


def test_each_handler_gets_the_value_the_previous_one_passed_and_none_keeps_it():
    bus, seen = EventBus(), []
    bus.on("on_task_start", lambda e: e.json["task"] + 1, priority=3)
    bus.on("on_task_start", lambda e: seen.append(e.value), priority=2)  # returns None: value unchanged
    bus.on("on_task_start", lambda e: e.value * 10, priority=1)
    report = bus.dispatch(context())
    assert seen == [8]
    assert report.value == 80


def test_stop_ends_the_chain_and_can_carry_a_value():
    bus, ran = EventBus(), []
    bus.on("on_error", lambda e: ran.append("a"), priority=2)
    bus.on("on_error", lambda e: Stop("handled"), priority=1)
    bus.on("on_error", lambda e: ran.append("never"))
    report = bus.dispatch(context("on_error"))
    assert ran == ["a"] and report.stopped and report.value == "handled"
    bus2 = EventBus()
    bus2.on("x", lambda e: 5, priority=1)
    bus2.on("x", lambda e: STOP)
    assert bus2.dispatch(context("x")).value == 5


def test_a_failing_handler_is_isolated_and_reported_once():
    bus, ran, reported = EventBus(), [], []
    bus.on_failure(reported.append)

    def broken(event):
        raise RuntimeError("boom")

    token = bus.on("on_task_start", broken, priority=1)
    bus.on("on_task_start", lambda e: ran.append(e.value) or "after")
    report = bus.dispatch(context())
    assert ran == [None] and report.value == "after" and report.handled == 1
    assert [f.token for f in report.failures] == [token]
    assert "RuntimeError: boom" in report.failures[0].reason
    assert len(reported) == 1
    bus.on("on_error", broken)
    bus.dispatch(context("on_error"))
    assert len(reported) == 1, "failures of on_error handlers are not reported (no loops)"


def test_once_handlers_run_once_and_off_removes_handlers():
    bus, ran = EventBus(), []
    bus.on("on_resource_low", lambda e: ran.append("once"), once=True)
    token = bus.on("on_resource_low", lambda e: ran.append("always"))
    bus.dispatch(context("on_resource_low"))
    bus.dispatch(context("on_resource_low"))
    assert ran == ["once", "always", "always"]
    assert bus.off(token) is True and bus.off(token) is False
    report = bus.dispatch(context("on_resource_low"))
    assert report.unhandled and bus.unhandled_count == 1


def test_the_decorator_form_returns_a_token_that_still_calls_the_function():
    bus = EventBus()

    @bus.on("on_task_complete", priority=4)
    def done(event):
        return "done:" + event.source

    assert done(context("on_task_complete")) == "done:tester"
    assert bus.dispatch(context("on_task_complete")).value == "done:tester"
    assert bus.off(done)
    assert bus.handler_count("on_task_complete") == 0


def test_invalid_event_names_are_refused():
    with pytest.raises(ValueError, match="contains '.'"):
        EventBus().on("on.task", lambda e: None)

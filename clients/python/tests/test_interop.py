"""The Python client against the real broker and gateway, and against Swift agents (the `parley` CLI)."""

from __future__ import annotations

import json
import threading
import time

import pytest
import zmq

from conftest import wait_until
from parley import Decline, Event, Fail, Gap, ParleyError, Status


def connected(agents, broker, agent_id, layer="domain", capabilities=(), **kwargs):
    return agents(agent_id, layer, capabilities, broker=broker.endpoint, events=broker.events, **kwargs).connect()


# -- requests ------------------------------------------------------------------------------------------------


def test_python_asks_a_swift_agent_and_gets_its_answer(broker, swift, agents):
    swift.serve("swift-echo", "--cap", "echo")
    asker = connected(agents, broker, "py-asker")
    assert asker.request_help("agent:swift-echo", {"question": "6*7?", "n": [1, 2]}) == {"question": "6*7?", "n": [1, 2]}
    assert asker.request_clarification("cap:echo", "which units?") == "which units?"


def test_a_swift_requester_asks_a_python_helper(broker, swift, agents):
    helper = agents("py-helper", "domain", ["math"], broker=broker.endpoint, events=broker.events)
    seen = []

    @helper.serve
    def answer(request):
        seen.append((request.kind, request.requester_layer, request.attempt, request.content_type))
        return {"answer": request.json["a"] * request.json["b"], "asked_by": request.requester}

    helper.connect()
    result = swift.run("request", "--to", "agent:py-helper", "--json", '{"a":6,"b":7}')
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK (attempts: 1)" in result.stdout
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    assert reply["answer"] == 42 and reply["asked_by"].startswith("cli-")
    assert seen == [("help", "domain", 1, "application/json")]


def test_handler_outcomes_decline_fail_and_crash_reach_the_requester_as_statuses(broker, agents):
    helper = agents("py-helper", "domain", ["judge"], broker=broker.endpoint, events=broker.events)

    @helper.serve
    def judge(request):
        if request.json == "decline":
            raise Decline("not my department")
        if request.json == "fail":
            raise Fail("the database is down")
        if request.json == "crash":
            raise KeyError("missing")
        return "fine"

    helper.connect()
    asker = connected(agents, broker, "py-asker")
    assert asker.request_help("cap:judge", "ok") == "fine"
    for payload, status, text in [("decline", Status.DECLINED, "not my department"), ("fail", Status.FAILED, "the database is down"),
                                  ("crash", Status.FAILED, "KeyError")]:
        with pytest.raises(ParleyError) as refused:
            asker.request_help("cap:judge", payload)
        assert refused.value.status == status and text in refused.value.reason


def test_broker_refusals_become_parley_errors_with_their_status(broker, swift, agents):
    swift.serve("swift-db", "--layer", "infrastructure", "--cap", "persistence")
    asker = connected(agents, broker, "py-asker")
    with pytest.raises(ParleyError) as no_route:
        asker.request_help("agent:nobody", {}, timeout=5)
    assert no_route.value.status == Status.NO_ROUTE and "nobody" in no_route.value.reason
    with pytest.raises(ParleyError) as cross_layer:
        asker.request_help("cap:persistence", {})
    assert cross_layer.value.status == Status.UNAUTHORIZED and "gateway" in cross_layer.value.reason
    with pytest.raises(ValueError):
        asker.request_help("nobody", {})


def test_the_deadline_is_enforced_and_progress_extends_it(broker, agents):
    helper = agents("py-slow", "domain", ["slow"], broker=broker.endpoint, events=broker.events)
    release = threading.Event()

    @helper.serve
    def slow(request):
        if request.json.get("progress"):
            request.progress(5.0, "still working")
            time.sleep(1.2)
            return {"late": "but fine", "attempt": request.attempt}
        release.wait(10)
        return "too late"

    helper.connect()
    asker = connected(agents, broker, "py-asker")
    started = time.monotonic()
    with pytest.raises(ParleyError) as timed_out:
        asker.request_help("cap:slow", {"progress": False}, timeout=0.8)
    assert timed_out.value.status == Status.TIMEOUT
    assert 0.7 < time.monotonic() - started < 0.8 + 1.5
    release.set()
    notes = []
    outcome = asker.request("help", "cap:slow", {"progress": True}, timeout=0.8, on_progress=lambda note, left: notes.append((note, left)))
    assert outcome.status == Status.OK, outcome.text
    assert outcome.json == {"late": "but fine", "attempt": 1}
    wait_until("the progress note arrived", lambda: notes)
    assert notes[0][0] == "still working" and notes[0][1] > 4


def test_overloaded_is_retried_with_backoff_under_the_same_callback_id(start_broker, agents):
    broker = start_broker(["--max-pending-per-agent", "1"])
    helper = agents("py-helper", "domain", ["work"], broker=broker.endpoint, events=broker.events)
    gate = threading.Event()
    calls = []

    @helper.serve
    def work(request):
        calls.append(request.callback_id)
        if request.json == "first":
            gate.wait(5)
        return request.json

    helper.connect()
    asker = connected(agents, broker, "py-asker", base_backoff=0.2)
    first = threading.Thread(target=lambda: calls.append(("first", asker.request_help("cap:work", "first"))))
    first.start()
    wait_until("the first request is being served", lambda: len(calls) == 1)
    threading.Timer(0.4, gate.set).start()
    started = time.monotonic()
    assert asker.request_help("cap:work", "second", timeout=10, retries=8) == "second"
    assert time.monotonic() - started > 0.3, "it waited for the first one (OVERLOADED, then retried)"
    first.join(5)
    outcomes = broker_outcomes(asker)
    assert outcomes["OVERLOADED"] >= 1 and outcomes["OK"] == 2
    assert len([c for c in calls if isinstance(c, str)]) == 2, "each request was delivered once"


def broker_outcomes(agent):
    return agent.broker_status()["outcomes"]


def test_with_no_retries_overloaded_comes_back_at_once(start_broker, agents):
    broker = start_broker(["--max-pending-per-agent", "1"])
    helper = agents("py-helper", "domain", ["work"], broker=broker.endpoint, events=broker.events)
    gate = threading.Event()
    helper.serve(lambda request: gate.wait(5) and "done")
    helper.connect()
    asker = connected(agents, broker, "py-asker")
    first = threading.Thread(target=lambda: asker.request_help("cap:work", 1))
    first.start()
    wait_until("the first request is pending", lambda: asker.broker_status()["pending"] == 1)
    with pytest.raises(ParleyError) as overloaded:
        asker.request_help("cap:work", 2, retries=0)
    assert overloaded.value.status == Status.OVERLOADED
    gate.set()
    first.join(5)


# -- events --------------------------------------------------------------------------------------------------


def test_python_subscribes_to_a_swift_publisher_in_order_from_sequence_one(broker, swift, agents):
    for n in (1, 2):
        result = swift.run("publish", "--topic", "callback.swift-pub.on_task_start", "--json", json.dumps({"n": n}))
        assert result.returncode == 0 and f"#{n}" in result.stdout, result.stdout + result.stderr
    subscriber = connected(agents, broker, "py-sub", layer="observer")
    subscription = subscriber.subscribe("swift-pub", start=1)
    notices = [subscription.get(5), subscription.get(5)]
    result = swift.run("publish", "--topic", "callback.swift-pub.on_task_complete", "--json", '{"n":3}')
    assert result.returncode == 0, result.stderr
    notices.append(subscription.get(5))
    assert [(n.name, n.sequence, n.json) for n in notices] == [
        ("on_task_start", 1, {"n": 1}), ("on_task_start", 2, {"n": 2}), ("on_task_complete", 1, {"n": 3})]
    assert [n.replayed for n in notices] == [True, True, False]
    assert all(isinstance(n, Event) and n.agent == "swift-pub" for n in notices)
    subscription.close()
    assert subscription.get(0.1) is None


def test_a_swift_tail_receives_what_python_publishes(broker, swift, agents):
    publisher = connected(agents, broker, "py-pub")
    assert [publisher.publish("on_task_start", {"n": n}) for n in (1, 2, 3)] == [1, 2, 3]
    result = swift.run("tail", "callback.py-pub.", "--from", "1", "--count", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("callback.py-pub.on_task_start")]
    assert [line.split()[1] for line in lines] == ["#1", "#2", "#3"], result.stdout
    assert [line.endswith('{"n":%d}' % n) for n, line in zip((1, 2, 3), lines)] == [True] * 3


def pause_live_events(agent, prefix: bytes):
    """White-box: the agent's SUB stops receiving `prefix` (as if the broker dropped its copies), and its
    periodic sync is pushed far away, so that only the mechanism under test can recover the events."""
    done = threading.Event()

    def pause(io):
        io.sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
        io.next_sync = time.monotonic() + 3600
        done.set()

    agent._schedule(pause)
    assert done.wait(2)


def resume_live_events(agent, prefix: bytes):
    done = threading.Event()
    agent._schedule(lambda io: (io.sub.setsockopt(zmq.SUBSCRIBE, prefix), done.set()))
    assert done.wait(2)


def test_a_hole_shown_by_a_later_live_event_is_replayed_in_order(start_broker, agents):
    broker = start_broker(["--heartbeat-ms", "5000"])  # BEACONs only every 5 s: they cannot be what fills the hole
    publisher = connected(agents, broker, "py-pub")
    subscriber = connected(agents, broker, "py-sub", layer="observer")
    subscription = subscriber.subscribe("py-pub")
    time.sleep(0.3)  # the subscription reaches the broker
    publisher.publish("on_task_start", 1)
    first = subscription.get(5)
    assert (first.sequence, first.replayed) == (1, False)
    pause_live_events(subscriber, b"callback.py-pub.")
    publisher.publish("on_task_start", 2)
    publisher.publish("on_task_start", 3)
    resume_live_events(subscriber, b"callback.py-pub.")
    time.sleep(0.3)
    publisher.publish("on_task_start", 4)
    notices = [subscription.get(1.5) for _ in range(3)]
    assert None not in notices, notices
    assert [(n.sequence, n.json, n.replayed) for n in notices] == [(2, 2, True), (3, 3, True), (4, 4, False)]


def test_a_lost_tail_is_noticed_from_a_beacon_and_replayed(broker, agents):
    publisher = connected(agents, broker, "py-pub")
    subscriber = connected(agents, broker, "py-sub", layer="observer")
    subscription = subscriber.subscribe("py-pub", events=["on_resource_low"])
    time.sleep(0.3)
    publisher.publish("on_resource_low", "a")
    assert subscription.get(5).sequence == 1
    pause_live_events(subscriber, b"callback.py-pub.on_resource_low.")
    publisher.publish("on_resource_low", "b")
    publisher.publish("on_resource_low", "c")
    resume_live_events(subscriber, b"callback.py-pub.on_resource_low.")
    # No later event will come: only the BEACONs (latest 3) show that 2 and 3 are missing.
    notices = [subscription.get(3), subscription.get(3)]
    assert [(n.sequence, n.json, n.replayed) for n in notices if n] == [(2, "b", True), (3, "c", True)]


def test_events_the_broker_no_longer_retains_come_as_an_explicit_gap(start_broker, agents):
    broker = start_broker(["--retention-count", "2"])
    publisher = connected(agents, broker, "py-pub")
    for n in range(1, 6):
        publisher.publish("on_task_start", n)
    subscriber = connected(agents, broker, "py-sub", layer="observer")
    subscription = subscriber.subscribe("py-pub", events=["on_task_start"], start=1)
    notices = [subscription.get(5) for _ in range(3)]
    assert isinstance(notices[0], Gap) and (notices[0].first, notices[0].last) == (1, 3)
    assert [(n.sequence, n.json) for n in notices[1:]] == [(4, 4), (5, 5)]


def test_a_live_subscription_from_now_sees_only_new_events_of_its_topics(broker, agents):
    publisher = connected(agents, broker, "ab")
    other = connected(agents, broker, "abc")
    publisher.publish("on_error", "before")
    subscriber = connected(agents, broker, "py-sub", layer="observer")
    subscription = subscriber.subscribe("ab", events=["on_error"])
    time.sleep(0.3)  # the subscription reaches the broker (slow joiner)
    other.publish("on_error", "not mine")
    publisher.publish("on_error_2", "other event")
    publisher.publish("on_error", "after")
    notice = subscription.get(5)
    assert (notice.topic, notice.sequence, notice.json) == ("callback.ab.on_error", 2, "after")
    assert subscription.get(0.5) is None


def test_trigger_runs_local_handlers_then_publishes_and_handler_errors_raise_on_error(broker, agents):
    game = connected(agents, broker, "py-game")
    watcher = connected(agents, broker, "py-watch", layer="observer")
    subscription = watcher.subscribe("py-game", start=1)
    seen = []

    @game.on("on_task_start", priority=5)
    def plan(event):
        return {"steps": event.json["level"] * 2}

    @game.on("on_task_start")
    def broken(event):
        seen.append(event.value)
        raise RuntimeError("handler bug")

    game.on("on_error", lambda event: seen.append(("error", event.json["event"])))
    report = game.trigger("on_task_start", {"level": 3})
    assert report.sequence == 1 and report.dispatch.value == {"steps": 6} and len(report.dispatch.failures) == 1
    assert seen == [{"steps": 6}, ("error", "on_task_start")]
    received = {subscription.get(5).name for _ in range(2)}
    assert received == {"on_task_start", "on_error"}


# -- cross-layer calls through the gateway -------------------------------------------------------------------


def test_a_python_domain_agent_calls_swift_infrastructure_through_the_gateway(broker, gateway, swift, agents):
    swift.serve("swift-db", "--layer", "infrastructure", "--cap", "persistence")
    orders = agents("py-orders", "domain", broker=broker.endpoint, events=broker.events, gateway=gateway.endpoint)
    assert orders.domain_to_infrastructure({"key": "order-7"}, "persistence", timeout=10) == {"key": "order-7"}
    wait_until("the audit record is written", lambda: gateway.audit.exists() and gateway.audit.read_text().strip())
    record = json.loads(gateway.audit.read_text().splitlines()[0])
    assert (record["verdict"], record["rule"], record["caller"], record["from_layer"], record["to_layer"], record["need"]) == \
        ("allow", "domain-uses-infrastructure", "py-orders", "domain", "infrastructure", "persistence")
    with pytest.raises(ParleyError) as denied:
        orders.execute("presentation", "render", {"x": 1}, timeout=5, retries=0)
    assert denied.value.status == Status.UNAUTHORIZED and "domain → presentation" in denied.value.reason


def test_application_to_domain_reaches_a_python_domain_agent_through_the_gateway(broker, agents, processes, tmp_path):
    from conftest import Gateway
    policy = tmp_path / "app-policy.yaml"
    policy.write_text("version: 1\nlayers: [application, domain]\ndefault: deny\nrules:\n"
                      "  - name: application-uses-domain\n    comment: use cases use the domain\n    from: application\n"
                      "    to: domain\n    kinds: [call]\n    max_payload: 1KiB\n")
    gateway = Gateway(broker, policy, tmp_path / "app-audit.jsonl", tmp_path / "app-gateway.log")
    processes.append(gateway)
    expert = agents("py-pricing", "domain", ["pricing"], broker=broker.endpoint, events=broker.events)
    expert.serve(lambda request: {"price": 10 * request.json["qty"], "for": request.requester, "layer": request.requester_layer})
    expert.connect()
    app = agents("py-checkout", "application", broker=broker.endpoint, events=broker.events, gateway=gateway.endpoint)
    assert app.application_to_domain({"qty": 3}, "pricing", timeout=10) == {"price": 30, "for": "py-checkout", "layer": "application"}
    with pytest.raises(ParleyError) as too_big:
        app.execute("domain", "pricing", {"blob": "x" * 2000}, timeout=5, retries=0)
    assert too_big.value.status == Status.UNAUTHORIZED

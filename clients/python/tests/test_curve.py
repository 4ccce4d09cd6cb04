"""CURVE mode: the broker takes the agent's identity from its key; the Python client sets the keys on its
DEALER and its SUB (PROTOCOL.md §8.8, §11 rule 12)."""

from __future__ import annotations

import pytest
import zmq

from parley import Agent, CurveKeys, ParleyError, Status


def keypair():
    public, secret = zmq.curve_keypair()
    return public.decode(), secret.decode()


@pytest.fixture
def curve_broker(start_broker, tmp_path):
    if not zmq.has("curve"):
        pytest.fail("this libzmq has no CURVE support")
    broker_public, broker_secret = keypair()
    (tmp_path / "broker.key").write_text(broker_secret + "\n")
    agents = {name: keypair() for name in ("py-helper", "py-asker")}
    (tmp_path / "keys.yaml").write_text("keys:\n" + "".join(
        f'  - id: {name}\n    layer: domain\n    public: "{public}"\n' for name, (public, _) in agents.items()))
    broker = start_broker(["--secret-key", str(tmp_path / "broker.key"), "--keys", str(tmp_path / "keys.yaml")])
    return broker, broker_public, agents


def test_agents_with_their_keys_register_ask_answer_publish_and_subscribe(curve_broker, agents):
    broker, broker_public, keys = curve_broker

    def curve(name):
        return CurveKeys(keys[name][0], keys[name][1], broker_public)

    helper = agents("py-helper", "domain", ["math"], broker=broker.endpoint, events=broker.events, curve=curve("py-helper"))
    helper.serve(lambda request: {"sum": sum(request.json), "for": request.requester})
    helper.connect(timeout=5)
    asker = agents("py-asker", "domain", broker=broker.endpoint, events=broker.events, curve=curve("py-asker")).connect(timeout=5)
    assert asker.request_help("cap:math", [1, 2, 3]) == {"sum": 6, "for": "py-asker"}
    subscription = asker.subscribe("py-helper", start=1)
    assert helper.publish("on_task_complete", {"ok": True}) == 1
    notice = subscription.get(5)
    assert notice is not None and notice.json == {"ok": True}


def test_a_hello_that_does_not_match_the_key_is_refused_and_no_key_gets_silence(curve_broker, agents):
    broker, broker_public, keys = curve_broker
    spoofer = agents("py-asker", "infrastructure", broker=broker.endpoint, events=broker.events,
                     curve=CurveKeys(keys["py-asker"][0], keys["py-asker"][1], broker_public))
    with pytest.raises(ParleyError) as refused:
        spoofer.connect(timeout=5)
    assert refused.value.status == Status.UNAUTHORIZED and "registered in layer 'domain'" in refused.value.reason
    stranger = agents("py-stranger", "domain", broker=broker.endpoint, events=broker.events)
    with pytest.raises(ParleyError) as silent:
        stranger.connect(timeout=1)
    assert silent.value.status == Status.UNAVAILABLE and "no WELCOME" in silent.value.reason


def test_cross_layer_calls_need_the_gateways_key():
    agent = Agent("py-asker", "domain", curve=CurveKeys(*keypair(), broker_key=keypair()[0]))
    try:
        with pytest.raises(ValueError, match="gateway"):
            agent.execute("infrastructure", "persistence", {})
    finally:
        agent.close()

"""Protocol revision 1.1 (PROTOCOL.md section 1): a publisher that asks for confirm batches in its HELLO gets its
events confirmed several at once with CONFIRMS; a 1.0 publisher beside it keeps getting one CONFIRM per event."""

from __future__ import annotations

import os
from typing import Dict, List, Optional

from parley import wire
from parley.wire import Command

from raw_zmtp import RawZMTPDealer

EVENTS = 60  # fewer than the 64 messages of one broker turn: sent in one write, they can share one CONFIRMS


def registered(broker, agent_id: str, features: Optional[int]) -> tuple:
    dealer = RawZMTPDealer(broker.endpoint, {})
    dealer.send_many([[wire.encode(Command.HELLO, instance=1, agent_id=agent_id, layer="app", capabilities=[],
                                   features=features)]])
    welcome = wire.decode(dealer.receive()[0])
    assert welcome.command == Command.WELCOME, welcome
    return dealer, welcome


def publish_and_collect(dealer: RawZMTPDealer, agent_id: str) -> tuple:
    """Publishes EVENTS events in one write; returns the headers that confirmed them and each event id's sequence."""
    ids = [os.urandom(16) for _ in range(EVENTS)]
    dealer.send_many([[wire.encode(Command.PUBLISH, event_id=event_id, topic=f"callback.{agent_id}.on_tick",
                                   content_type="text/plain"), b"tick"] for event_id in ids])
    sequences: Dict[bytes, int] = {}
    headers: List[wire.Header] = []
    while len(sequences) < EVENTS:
        header = wire.decode(dealer.receive()[0])
        if header.command == Command.CONFIRM:
            assert header.event_id not in sequences, "an event confirmed twice"
            sequences[header.event_id] = header.sequence
        elif header.command == Command.CONFIRMS:
            for index, event_id in enumerate(header.event_ids):
                assert event_id not in sequences, "an event confirmed twice"
                sequences[event_id] = header.first_sequence + index
        else:
            assert header.command == Command.HEARTBEAT, header
            continue
        headers.append(header)
    assert [sequences[event_id] for event_id in ids] == list(range(1, EVENTS + 1)), "each event its own sequence, in order"
    return headers, sequences


def test_a_publisher_that_asks_for_confirm_batches_gets_its_events_confirmed_together(broker):
    dealer, welcome = registered(broker, "batcher", wire.FEATURE_CONFIRM_BATCHES | 0x80)
    try:
        assert welcome.features == wire.FEATURE_CONFIRM_BATCHES, "the known feature is granted, the unknown bit is not"
        headers, _ = publish_and_collect(dealer, "batcher")
        assert all(header.command == Command.CONFIRMS for header in headers)
        assert len(headers) < EVENTS, f"{EVENTS} events in one write were confirmed one by one: {len(headers)} CONFIRMS"
    finally:
        dealer.close()


def test_a_1_0_publisher_beside_it_gets_one_confirm_per_event_and_a_1_0_welcome(broker):
    batcher, _ = registered(broker, "batcher", wire.FEATURE_CONFIRM_BATCHES)
    classic, welcome = registered(broker, "classic", None)
    try:
        assert "features" not in welcome.fields, "a 1.0 HELLO gets a WELCOME without the features byte"
        batched, _ = publish_and_collect(batcher, "batcher")
        headers, _ = publish_and_collect(classic, "classic")
        assert [header.command for header in headers] == [Command.CONFIRM] * EVENTS
        assert all(header.command == Command.CONFIRMS for header in batched)
    finally:
        batcher.close()
        classic.close()

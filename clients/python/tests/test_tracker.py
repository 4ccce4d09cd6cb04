"""The subscriber algorithm of PROTOCOL.md §7.8, fed by hand: order, duplicates, holes, GAP, BEACON."""

from __future__ import annotations

from parley.subscription import Event, Gap, Tracker

T = "callback.game.on_task_start"


def event(sequence, replayed=False, topic=T):
    return Event(topic, sequence, 1000 + sequence, f"{sequence:032x}", "application/json", b"%d" % sequence, replayed)


def tracker(start=None, selectors=("callback.game.",)):
    delivered = []
    return Tracker(list(selectors), start, delivered.append), delivered


def sequences(delivered):
    return [n.sequence if isinstance(n, Event) else ("gap", n.first, n.last) for n in delivered]


def test_from_now_starts_with_the_first_live_event_and_ignores_earlier_replays():
    t, out = tracker()
    assert t.initial_replays() == []
    assert t.on_event(event(3, replayed=True)) == []
    assert t.on_event(event(5)) == [] and t.on_event(event(6)) == []
    assert sequences(out) == [5, 6]


def test_a_start_sequence_replays_first_and_drops_the_duplicate_copies():
    t, out = tracker(start=1)
    assert t.initial_replays() == [("callback.game.", 1, 0)]
    t.on_event(event(1, replayed=True))
    t.on_event(event(1))  # the live copy of the same event
    t.on_event(event(2, replayed=True))
    t.on_event(event(2))
    assert sequences(out) == [1, 2]


def test_a_hole_is_replayed_at_once_and_filled_in_order():
    t, out = tracker(start=1)
    assert t.on_event(event(1)) == []
    assert t.on_event(event(4)) == [(T, 2, 3)]
    assert t.on_event(event(5)) == [], "one REPLAY outstanding per topic"
    t.on_event(event(2, replayed=True))
    t.on_event(event(3, replayed=True))
    assert sequences(out) == [1, 2, 3, 4, 5]


def test_a_gap_is_reported_once_and_the_subscriber_moves_past_it():
    t, out = tracker(start=1)
    t.on_event(event(5))  # held; 1-4 asked for
    assert t.on_gap(T, 1, 3) == []
    t.on_event(event(4, replayed=True))
    assert t.on_gap(T, 1, 3) == []  # the same GAP again: nothing new
    assert sequences(out) == [("gap", 1, 3), 4, 5]


def test_replay_end_asks_again_for_a_hole_still_open_and_for_the_rest_of_a_truncated_answer():
    t, out = tracker(start=1)
    t.on_event(event(1))
    assert t.on_event(event(5)) == [(T, 2, 4)]
    t.on_event(event(2, replayed=True))
    assert t.on_replay_end("callback.game.", False) == [(T, 3, 4)]
    t.on_event(event(3, replayed=True))
    t.on_event(event(4, replayed=True))
    assert t.on_replay_end(T, True) == [(T, 6, 0)]
    assert sequences(out) == [1, 2, 3, 4, 5]


def test_a_beacon_ahead_of_the_subscriber_fetches_the_lost_tail():
    t, out = tracker()
    t.on_event(event(1))
    assert t.on_beacon(T, 1) == []
    assert t.on_beacon(T, 3) == [(T, 2, 3)]
    t.on_event(event(2, replayed=True))
    t.on_event(event(3, replayed=True))
    assert sequences(out) == [1, 2, 3]


def test_a_beacon_for_a_new_topic_from_now_starts_after_its_latest():
    t, out = tracker()
    assert t.on_beacon(T, 7) == []
    t.on_event(event(8))
    assert sequences(out) == [8]


def test_a_stale_beacon_behind_the_subscriber_is_ignored():
    t, out = tracker(start=1)
    for n in (1, 2, 3):
        t.on_event(event(n, replayed=True))  # replayed answers overtook the BEACON below on the events socket
    assert t.on_beacon(T, 1) == []
    assert sequences(out) == [1, 2, 3]


def test_a_beacon_behind_the_subscriber_after_a_reconnect_means_a_broker_restart():
    t, out = tracker(start=1)
    for n in (1, 2, 3):
        t.on_event(event(n))
    t.reconnected()
    assert t.on_beacon(T, 1) == [(T, 1, 0)]
    assert isinstance(out[-1], Gap) and out[-1].first == 4 and out[-1].last is None
    t.on_event(event(1, replayed=True))
    assert sequences(out)[-1] == 1


def test_sync_asks_each_quiet_topic_from_its_next_sequence_and_reconnect_forgets_outstanding_replays():
    t, out = tracker(start=1, selectors=(T,))
    t.on_event(event(1))
    assert t.sync() == [], "an event since the last sync: not quiet"
    assert t.sync() == [(T, 2, 0)]
    assert t.sync() == [], "still asking"
    assert t.reconnected() == [(T, 2, 0)]


def test_a_subscriber_behind_a_flood_never_asks_past_the_events_still_on_their_way():
    # Events read one per sync interval, far behind the broker's latest: an open-ended REPLAY would make the
    # broker call the unread ones a GAP (they are older than its retention).
    t, out = tracker(start=1, selectors=(T,))
    for n in range(1, 100):
        t.on_event(event(n))
        assert t.sync() == []
    assert sequences(out) == list(range(1, 100))
    assert t.reconnected() == [(T, 100, 0)], "a new connection asks even while events flowed on the old one"


def test_topics_of_other_agents_are_not_covered():
    t, _ = tracker(selectors=("callback.ab.",))
    assert t.covers("callback.ab.on_error") and not t.covers("callback.abc.on_error")
    t2, _ = tracker(selectors=("callback.ab.on_error",))
    assert t2.covers("callback.ab.on_error") and not t2.covers("callback.ab.on_error_2")

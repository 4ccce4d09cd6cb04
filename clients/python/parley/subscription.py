"""Receiving events exactly once, in per-topic order, or an explicit gap (PROTOCOL.md §7.8).

``Tracker`` is the subscriber algorithm as a pure state machine: it is fed live EVENTs and BEACONs (from the
events socket), replayed EVENTs, GAPs and REPLAY_ENDs (from the agent's socket), and returns the REPLAYs to
send. The agent's I/O thread owns it. ``Subscription`` is what the application iterates.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from . import wire

Replay = Tuple[str, int, int]  # (selector, from, to)


@dataclass(frozen=True)
class Event:
    """An event another agent raised."""

    topic: str
    sequence: int
    timestamp: int  # ms since the Unix epoch, the broker's clock
    event_id: str  # 32 hex digits
    content_type: str
    data: bytes
    replayed: bool  # True when it came from a REPLAY rather than live

    @property
    def agent(self) -> str:
        return self.topic.split(".")[1]

    @property
    def name(self) -> str:
        """The event name, e.g. ``on_task_start``."""
        return self.topic.split(".")[2]

    @property
    def json(self) -> Any:
        """The payload decoded as JSON (None for an empty payload)."""
        return json.loads(self.data) if self.data else None


@dataclass(frozen=True)
class Gap:
    """Events ``first``…``last`` of ``topic`` can no longer be had: they are lost to this subscriber.

    ``last`` is None when the broker restarted (sequences start again at 1 and the previous run's events
    after ``first - 1`` are unknown).
    """

    topic: str
    first: int
    last: Optional[int]
    reason: str = "no longer retained by the broker"


Notice = Union[Event, Gap]


@dataclass
class _Track:
    next: int
    held: Dict[int, Event] = field(default_factory=dict)
    asking: bool = False
    # Set by a new connection to the broker: only then can a BEACON behind `next` mean a restart. Otherwise it
    # is a stale BEACON read from the events socket after a REPLAY answer (another connection) moved `next` on.
    reconnected: bool = False
    # An event arrived since the last periodic sync: the topic is not quiet, so it is not asked (PROTOCOL.md §7.8 rule 6).
    heard: bool = False


class Tracker:
    """One subscription's per-topic state: the next sequence expected, early arrivals held, one REPLAY
    outstanding at most per topic."""

    def __init__(self, selectors: List[str], start: Optional[int], deliver: Callable[[Notice], None]) -> None:
        self.selectors = list(selectors)
        self.start = None if start is None else max(1, int(start))
        self.deliver = deliver
        self.tracks: Dict[str, _Track] = {}

    def covers(self, topic: str) -> bool:
        return any(wire.selector_covers(selector, topic) for selector in self.selectors)

    def initial_replays(self) -> List[Replay]:
        """Slow joiner: when starting from a sequence, fetch rather than hope."""
        return [(selector, self.start, 0) for selector in self.selectors] if self.start is not None else []

    def _track(self, topic: str, first: Optional[int] = None) -> Optional[_Track]:
        track = self.tracks.get(topic)
        if track is None:
            start = self.start if self.start is not None else first
            if start is None:
                return None  # "from now", and nothing live seen yet: ignore replayed data
            track = self.tracks[topic] = _Track(next=start)
        return track

    @staticmethod
    def _ask(track: _Track, topic: str, first: int, last: int) -> List[Replay]:
        if track.asking or (last != 0 and last < first):
            return []
        track.asking = True
        return [(topic, first, last)]

    def _release(self, track: _Track) -> None:
        while track.next in track.held:
            self.deliver(track.held.pop(track.next))
            track.next += 1
        if not track.held:
            track.asking = False

    def on_event(self, event: Event) -> List[Replay]:
        track = self._track(event.topic, None if event.replayed else event.sequence)
        if track is not None:
            track.heard = True
        if track is None or event.sequence < track.next or event.sequence in track.held:
            return []  # a duplicate (live and replayed copies), or before the start
        if event.sequence > track.next:  # a hole before it: hold it, fetch the hole
            track.held[event.sequence] = event
            return self._ask(track, event.topic, track.next, event.sequence - 1)
        self.deliver(event)
        track.next += 1
        self._release(track)
        return []

    def on_gap(self, topic: str, first: int, last: int) -> List[Replay]:
        track = self._track(topic)
        if track is None or not (first <= track.next <= last):
            return []
        self.deliver(Gap(topic, track.next, last))
        track.next = last + 1
        track.held = {sequence: event for sequence, event in track.held.items() if sequence >= track.next}
        self._release(track)
        return []

    def on_beacon(self, topic: str, latest: int) -> List[Replay]:
        track = self._track(topic, latest + 1)
        if track is None:
            return []
        if latest < track.next - 1:
            if not track.reconnected:
                return []  # stale: sent before events this subscriber already has
            # Sequences went backwards across a reconnect: a memory-only broker restarted (PROTOCOL.md §7.8 rule 8).
            self.deliver(Gap(topic, track.next, None, "the broker restarted: sequences start again at 1"))
            track.next, track.held, track.asking, track.reconnected = 1, {}, False, False
            return self._ask(track, topic, 1, 0)
        track.reconnected = False
        if latest >= track.next:  # the tail of a burst was lost
            return self._ask(track, topic, track.next, latest)
        return []

    def on_replay_end(self, selector: str, truncated: bool) -> List[Replay]:
        replays: List[Replay] = []
        for topic, track in self.tracks.items():
            if not wire.selector_covers(selector, topic):
                continue
            track.asking = False
            if track.held:
                replays += self._ask(track, topic, track.next, min(track.held) - 1)
            elif truncated:
                replays += self._ask(track, topic, track.next, 0)
        return replays

    def replays_lost(self) -> None:
        """Answers to REPLAYs in flight will not come (refused, or the connection was replaced)."""
        for track in self.tracks.values():
            track.asking = False

    def sync(self, quiet_only: bool = True) -> List[Replay]:
        """Every few seconds: ask each quiet topic (no event since the last sync) for anything after what was
        delivered (just a REPLAY_END when nothing). A topic with events flowing is not asked: events not read yet
        are still on their way, and an open-ended REPLAY would overtake them (PROTOCOL.md §7.8 rule 6)."""
        replays: List[Replay] = []
        for topic, track in self.tracks.items():
            heard, track.heard = track.heard, False
            if not track.asking and not (quiet_only and heard):
                track.asking = True
                replays.append((topic, track.next, 0))
        return replays

    def reconnected(self) -> List[Replay]:
        """A new connection to the broker: ask again for what may have been lost meanwhile."""
        self.replays_lost()
        for track in self.tracks.values():
            track.reconnected = True
        replays = self.sync(quiet_only=False)  # nothing of the old connection is on its way any more
        if self.start is not None:  # selectors whose topics are not known yet
            for selector in self.selectors:
                if not any(wire.selector_covers(selector, topic) for topic in self.tracks):
                    replays.append((selector, self.start, 0))
        return replays


class SubscriptionBase:
    """What ``Subscription`` (threads) and ``AsyncSubscription`` (asyncio) share: the selectors, the
    ``Tracker`` the agent feeds, and closing. Subclasses supply the queue (``_put``, ``_end``)."""

    def __init__(self, selectors: List[str], start: Optional[int], closer: Callable[[Any], None]) -> None:
        self.selectors = list(selectors)
        self.start = start
        self._closer = closer
        self._closed = threading.Event()
        self.tracker = Tracker(selectors, start, self._put)

    def _put(self, notice: Notice) -> None:
        raise NotImplementedError

    def _end(self) -> None:
        """Wakes the consumer at the end of the notices."""
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        """Unsubscribes; iteration ends once the notices already received are taken."""
        if not self._closed.is_set():
            self._closer(self)
            self._finish()

    def _finish(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._end()


class Subscription(SubscriptionBase):
    """Events of the subscribed topics, in per-topic sequence order, and ``Gap`` notices.

    Iterate it (``for notice in subscription``), or call ``get(timeout)``. ``close()`` ends it.
    Not for sharing between consumers: each notice goes to one ``get``.
    """

    _END = object()

    def __init__(self, selectors: List[str], start: Optional[int], closer: Callable[[Any], None]) -> None:
        self._queue: "queue.Queue[Any]" = queue.Queue()
        super().__init__(selectors, start, closer)

    def _put(self, notice: Notice) -> None:
        self._queue.put(notice)

    def _end(self) -> None:
        self._queue.put(Subscription._END)

    def get(self, timeout: Optional[float] = None) -> Optional[Notice]:
        """The next notice; None when ``timeout`` seconds pass first or the subscription has ended."""
        if self._closed.is_set() and self._queue.empty():
            return None
        try:
            item = self._queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is Subscription._END:
            self._queue.put(item)  # keep it for other waiters
            return None
        notice: Notice = item
        return notice

    def __iter__(self) -> Iterator[Notice]:
        while True:
            item = self._queue.get()
            if item is Subscription._END:
                self._queue.put(item)
                return
            yield item

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

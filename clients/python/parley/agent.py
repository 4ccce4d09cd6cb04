"""The Parley agent: ask for help and clarification, serve requests, publish and subscribe to events,
call other Clean Architecture layers through the gateway.

Threads: pyzmq sockets are not thread-safe, so one I/O thread (``parley-io``) owns every socket of the
agent — the DEALER to the broker, the DEALER to the gateway, the SUB for events. Callers hand it work
through a queue and a wake-up pipe, and wait on ``concurrent.futures.Future``s. Request handlers run on a
small thread pool and hand their replies back the same way. Every public method is thread-safe.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import functools
import itertools
import json
import logging
import os
import random
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple, Union, cast

import zmq

from . import events as ev
from . import wire
from .errors import Decline, Fail, ParleyError
from .subscription import Event, Subscription, SubscriptionBase
from .wire import Command, Kind, Status

log = logging.getLogger("parley")

DEFAULT_BROKER = "tcp://127.0.0.1:7410"
DEFAULT_EVENTS = "tcp://127.0.0.1:7411"
DEFAULT_GATEWAY = "tcp://127.0.0.1:7420"

_SEND_MORE = zmq.NOBLOCK | zmq.SNDMORE
_ZERO_COPY = 1 << 16  # frames this long or longer are sent without a copy (pyzmq's own threshold)
_SYNC_INTERVAL = 3.0  # seconds between subscriber syncs (PROTOCOL.md §7.8 rule 6)
_POLL_CEILING = 0.05  # the I/O thread wakes at least this often to run its timers


_now = time.monotonic  # not a function around it: a call less, several times per request


def _encode_payload(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Outcome:
    """The one outcome of a request, whatever its status."""

    status: Status
    body: bytes
    attempts: int

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    def value(self) -> Any:
        """The decoded JSON answer; ``ParleyError`` unless OK."""
        if self.status != Status.OK:
            raise ParleyError(self.status, self.text, self.attempts)
        try:
            return self.json
        except ValueError as error:
            raise ParleyError(Status.FAILED, f"the answer is not JSON: {error}", self.attempts) from None


Gather = Union[str, int]
"""How many answers ``coordinate`` waits for: ``"all"`` (every leg's outcome), ``"first"`` (the first OK
answer) or an ``int`` n, a quorum (the first n OK answers, n clamped to 1…len(targets))."""


@dataclass(frozen=True)
class CoordinationReply:
    """The outcome of one coordination leg: where it went, its ``Outcome``, and the decoded JSON answer
    (``answered`` is True when the outcome is OK and its body decodes as JSON; ``answer`` is None otherwise)."""

    target: str
    outcome: Outcome
    answered: bool
    answer: Any = None


def _gather_needed(gather: Gather, legs: int) -> int:
    """How many OK answers ``gather`` needs out of ``legs``; ValueError for anything but "all", "first" or an int."""
    if gather == "all" and isinstance(gather, str):
        return legs
    if gather == "first" and isinstance(gather, str):
        return 1
    if isinstance(gather, int) and not isinstance(gather, bool):
        return max(1, min(gather, legs))
    raise ValueError(f"gather must be 'all', 'first' or a quorum (an int), not {gather!r}")


def _leg_reply(target: str, outcome: Outcome) -> CoordinationReply:
    if outcome.status != Status.OK:
        return CoordinationReply(target, outcome, False)
    try:
        return CoordinationReply(target, outcome, True, outcome.json)
    except ValueError:
        return CoordinationReply(target, outcome, False)


_target_problem = functools.lru_cache(maxsize=1024)(wire.target_problem)  # the same few targets, again and again


def _on_broker(step: Callable[["_Link", "_Call"], None], call: "_Call") -> Callable[["_IO"], None]:
    """An operation of the driver: ``step`` on the broker link for ``call``."""
    return lambda io: step(io.broker, call)


def _short_of_quorum(answered: int, needed: int) -> ParleyError:
    return ParleyError(Status.FAILED, f"coordination got {answered} answer(s); {needed} needed")


@dataclass(frozen=True)
class CurveKeys:
    """CURVE keys (40-character Z85 strings, e.g. from ``parley keygen`` or ``zmq.curve_keypair()``): the
    agent's own pair, and the servers' public keys — the broker's (agent socket and events socket) and the
    gateway's (needed only for cross-layer calls). The broker and the gateway take the agent's id and layer
    from its key, so HELLO must declare the same (PROTOCOL.md §8.8)."""

    public_key: str
    secret_key: str
    broker_key: str
    gateway_key: Optional[str] = None

    def apply(self, sock: zmq.Socket[Any], server_key: Optional[str]) -> None:
        if server_key is None:
            raise ValueError("CURVE is configured but this server's public key is not (gateway_key)")
        sock.curve_publickey = self.public_key.encode("ascii")
        sock.curve_secretkey = self.secret_key.encode("ascii")
        sock.curve_serverkey = server_key.encode("ascii")


@dataclass(frozen=True)
class TriggerReport:
    """What ``trigger`` did: the local chain's report and the published event's sequence."""

    dispatch: ev.DispatchReport
    sequence: int


class RequestBase:
    """A request delivered to this agent's handler (``Request`` for ``Agent``, ``AsyncRequest`` for
    ``AsyncAgent``: they differ only in ``progress``)."""

    def __init__(self, agent: "AgentCore", header: wire.Deliver, body: bytes, session: int) -> None:
        self._agent = agent
        self._session = session
        self.delivery_id: int = header.delivery_id
        self.callback_id: str = header.callback_id.hex()
        self.kind: str = wire.KIND_LABELS[header.kind]
        self.attempt: int = header.attempt
        self.requester: str = header.requester
        self.requester_layer: str = header.requester_layer
        self.content_type: str = header.content_type
        self.body: bytes = body
        self.timeout: float = header.timeout_ms / 1000.0  # seconds left when it was delivered
        self.deadline: float = _now() + self.timeout  # time.monotonic() of the deadline
        self._revoked = False  # set by the driver's thread, read by any

    @property
    def json(self) -> Any:
        """The payload decoded as JSON (None for an empty payload)."""
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def revoked(self) -> bool:
        """True once the broker took the request back (deadline, cancel, redelivery): a reply would be dropped."""
        return self._revoked

    def _progress(self, extend_seconds: float, note: str) -> None:
        extend_ms = max(0, min(int(extend_seconds * 1000), 0xFFFFFFFF))
        if extend_ms:
            self.deadline = max(self.deadline, _now() + extend_ms / 1000.0)
        self._agent._schedule(lambda io: io.send_progress(self, extend_ms, note))

    def _revoke(self) -> None:
        """The broker took it back, or the agent closes: a reply would be dropped."""
        self._revoked = True

    def __repr__(self) -> str:
        return f"<Request {self.kind} from {self.requester} ({self.requester_layer}) attempt {self.attempt}>"


class Request(RequestBase):
    """A request delivered to this agent's handler."""

    def progress(self, extend_seconds: float, note: str = "") -> None:
        """Still working: asks for ``extend_seconds`` more from now (the broker caps it at its hard maximum).
        ``note`` goes to the requester."""
        self._progress(extend_seconds, note)


# ------------------------------------------------------------------------------------------------------
# State owned by the I/O thread


_Outcomes = Union["concurrent.futures.Future[Outcome]", "asyncio.Future[Outcome]"]


class _Call:
    __slots__ = ("cid", "kind", "target", "content_type", "body", "future", "deadline", "local_deadline",
                 "retries_left", "tries", "next_send", "last", "on_progress", "sent")

    def __init__(self, cid: bytes, kind: Kind, target: str, content_type: str, body: Optional[bytes], timeout: float,
                 retries: int, on_progress: Optional[Callable[[str, float], None]], future: "_Outcomes") -> None:
        self.cid = cid  # fresh for a new request, the same for every retry
        self.kind = kind
        self.target = target
        self.content_type = content_type
        self.body = body
        self.future = future  # set on the driver's thread
        self.deadline = _now() + timeout
        self.local_deadline = self.deadline  # moved by EXTENDED
        self.retries_left = retries
        self.tries = 0
        self.next_send: Optional[float] = None
        self.last: Optional[Outcome] = None
        self.on_progress = on_progress
        self.sent = False


class _Publish:
    __slots__ = ("eid", "frames", "future", "deadline")

    def __init__(self, frames: List[bytes], eid: bytes, timeout: float) -> None:
        self.eid = eid
        self.frames = frames
        self.future: "concurrent.futures.Future[wire.Header]" = concurrent.futures.Future()
        self.deadline = _now() + timeout


class _Link:
    """One registered session over a DEALER: to the broker, or to the gateway. Owned by the I/O thread."""

    def __init__(self, io: "_IO", name: str, endpoint: str, capabilities: Sequence[str]) -> None:
        self.io = io
        self.name = name
        self.endpoint = endpoint
        self.capabilities = list(capabilities)
        self.sock: Optional[zmq.Socket[Any]] = None
        self.state = "idle"  # idle → hello → ready; failed (refused); closed
        self.heartbeat = 1.0
        self.liveness = 3
        self.max_body = 1 << 20
        self.last_heard = 0.0
        self.last_sent = 0.0
        self.hello_attempt = 0
        self.hello_retry_at = 0.0
        self.session = 0
        self.registered_once = False
        self.calls: Dict[bytes, _Call] = {}
        self.publishes: Dict[bytes, _Publish] = {}
        # Calls cancelled while the session was down after their REQUEST went: REQUEST and CANCEL go again
        # after the next WELCOME (PROTOCOL.md section 11, rule 13), their RESULT is ignored.
        self.cancelled_while_away: List[_Call] = []
        self.waiters: List["concurrent.futures.Future[None]"] = []
        self.status_waiters: Deque["concurrent.futures.Future[Any]"] = collections.deque()
        self.undecodable = 0
        self.last_undecodable = ""
        self.fatal: Optional[ParleyError] = None
        self.held: Optional[Tuple[_Call, Outcome, float]] = None

    # -- the socket ------------------------------------------------------------------------------------

    @property
    def grace(self) -> float:
        return max(0.5, 2 * self.heartbeat)

    def describe_trouble(self) -> str:
        if not self.undecodable:
            return ""
        return (f"; the {self.name} at {self.endpoint} sent {self.undecodable} undecodable message(s), "
                f"last: {self.last_undecodable}")

    def open(self) -> None:
        self.close_socket()
        sock = self.io.ctx.socket(zmq.DEALER)  # no ZMQ_ROUTING_ID: a reconnect is a new peer
        sock.setsockopt(zmq.LINGER, 0)
        curve = self.io.agent.curve
        if curve is not None:
            curve.apply(sock, curve.broker_key if self.name == "broker" else curve.gateway_key)
        sock.setsockopt(zmq.SNDHWM, 100_000)
        sock.setsockopt(zmq.RCVHWM, 100_000)
        sock.connect(self.endpoint)
        self.sock = sock
        self.io.sockets[sock] = self
        self.io.watch(sock)
        self.state = "hello"
        self.send_hello()

    def close_socket(self, linger_ms: int = 0) -> None:
        if self.sock is not None:
            self.io.flush()  # what the driver holds for this socket goes before it closes
            self.io.unwatch(self.sock)
            self.io.sockets.pop(self.sock, None)
            self.sock.close(linger=linger_ms)
            self.sock = None

    def send(self, frames: List[bytes], counts: bool = True) -> None:
        """Sends one message. ``counts=False`` for STATUS and REPLAY: the broker does not count them as
        signs of life, so they must not delay the next HEARTBEAT."""
        if self.sock is None:
            return
        if self.io.transmit(self.sock, frames) and counts:
            self.last_sent = _now()

    def send_hello(self) -> None:
        self.hello_attempt += 1
        self.send([wire.encode(Command.HELLO, instance=self.io.agent._instance, agent_id=self.io.agent.id,
                               layer=self.io.agent.layer, capabilities=self.capabilities)])
        wait = max(1.0, 2 * self.heartbeat)
        self.hello_retry_at = _now() + wait + _full_jitter(self.hello_attempt, self.io.agent._base_backoff,
                                                         self.io.agent._max_backoff)

    def session_lost(self, why: str) -> None:
        """The broker forgot us or went silent: deliveries of this session will come again."""
        log.info("%s session lost (%s); registering again", self.name, why)
        if self.name == "broker":
            self.io.drop_deliveries()
            for tracker in self.io.trackers():
                tracker.replays_lost()

    # -- registration ------------------------------------------------------------------------------------

    def welcomed(self, header: wire.Header) -> None:
        self.heartbeat = max(header.heartbeat_ms, 1) / 1000.0
        self.liveness = max(header.liveness, 1)
        self.max_body = header.max_body
        if self.state == "ready":
            return  # a WELCOME to a repeated HELLO
        self.state = "ready"
        self.session += 1
        self.hello_attempt = 0
        self.registered_once = True
        self.last_heard = _now()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters.clear()
        for call in list(self.calls.values()):  # resend every unfinished request: same callback ids
            if call.next_send is None:
                self.send_call(call)
        for call in self.cancelled_while_away:
            self.send_call(call)
            self.send([wire.encode(Command.CANCEL, callback_id=call.cid)])
        self.cancelled_while_away.clear()
        for publish in list(self.publishes.values()):
            self.send(publish.frames)
        if self.name == "broker":
            for tracker in self.io.trackers():
                self.io.send_replays(tracker.reconnected())

    def refused(self, status: Status, reason: str) -> None:
        error = ParleyError(status, f"registration refused by the {self.name} at {self.endpoint}: {reason}")
        log.error("%s", error)
        self.fatal = error
        self.state = "failed"
        self.close_socket()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self.waiters.clear()
        for call in list(self.calls.values()):
            self.finish(call, Outcome(error.status, error.reason.encode(), 0))
        for publish in list(self.publishes.values()):
            self.publishes.pop(publish.eid, None)
            publish.future.set_exception(error)

    # -- requests --------------------------------------------------------------------------------------

    def start_call(self, call: _Call) -> None:
        if self.fatal is not None:
            return self.finish_error(call, self.fatal)
        self.calls[call.cid] = call
        if self.state == "idle":
            self.open()
        elif self.state == "ready":
            self.send_call(call)

    def send_call(self, call: _Call) -> None:
        if self.state != "ready":
            return  # sent after the WELCOME
        left_ms = int((call.deadline - _now()) * 1000)
        header = wire.request_frame(call.cid, call.kind, max(1, min(left_ms, 0xFFFFFFFF)), call.target, call.content_type)
        self.send([header] if call.body is None else [header, call.body])
        call.sent = True

    def cancel(self, call: _Call) -> None:
        """The caller gave up: CANCEL to the broker (or gateway) if it may have the request, now or after the
        next WELCOME; the call ends CANCELLED here at once (the RESULT that follows is ignored)."""
        if call.cid not in self.calls:
            return
        if call.sent and self.state == "ready":
            self.send([wire.encode(Command.CANCEL, callback_id=call.cid)])
        elif call.sent:
            self.cancelled_while_away.append(call)
        self.finish(call, Outcome(Status.CANCELLED, b"cancelled by the caller", 0))

    def finish(self, call: _Call, outcome: Outcome) -> None:
        self.calls.pop(call.cid, None)
        if not call.future.done():
            call.future.set_result(outcome)

    def finish_error(self, call: _Call, error: ParleyError) -> None:
        self.finish(call, Outcome(error.status, error.reason.encode(), error.attempts))

    def result(self, call: _Call, outcome: Outcome) -> None:
        call.last = outcome
        # The broker's UNAVAILABLE is final (an agent left, the broker shutting down: PROTOCOL.md §11 rule 5); the
        # gateway's own (attempts 0) says its link to the broker is down: retry.
        retry = outcome.status == Status.OVERLOADED or (
            outcome.status == Status.UNAVAILABLE and outcome.attempts == 0 and self.name == "gateway")
        if retry and call.retries_left > 0:
            delay = _full_jitter(call.tries + 1, self.io.agent._base_backoff, self.io.agent._max_backoff)
            if _now() + delay < call.deadline:
                call.retries_left -= 1
                call.tries += 1
                call.next_send = _now() + delay
                log.debug("%s for %s: retry %d in %.3f s", outcome.status.name, call.cid.hex(), call.tries, delay)
                return
        self.finish(call, outcome)

    # -- inbound -----------------------------------------------------------------------------------------

    def receive(self, frames: List[bytes]) -> None:
        if self.held is None and len(frames) <= 2:  # the hot path: RESULT and DELIVER, as below without a Header
            code = wire.command_code(frames[0])
            if code == Command.RESULT:
                result = wire.decode_result(frames[0])
                if result is not None:
                    self.last_heard = _now()
                    pending = self.calls.get(result[0])
                    if pending is not None:
                        self.result_arrived(pending, Outcome(result[1], frames[1] if len(frames) > 1 else b"", result[2]))
                    return
            elif code == Command.DELIVER and self.name == "broker":
                delivered = wire.decode_deliver(frames[0])
                if delivered is not None:
                    self.last_heard = _now()
                    if self.state == "ready":
                        self.io.deliver(delivered, frames[1] if len(frames) > 1 else b"", self.session)
                    return
        try:
            header = wire.decode(frames[0])
        except wire.DecodeError as error:
            self.undecodable += 1
            self.last_undecodable = str(error)
            log.warning("%s at %s sent an undecodable message: %s", self.name, self.endpoint, error)
            return
        if len(frames) > 2:
            self.undecodable += 1
            self.last_undecodable = f"too many frames: {len(frames)}"
            log.warning("%s sent a message of %d frames; ignored", self.name, len(frames))
            return
        body = frames[1] if len(frames) > 1 else b""
        self.last_heard = _now()
        if self.held is not None:
            call, outcome, _ = self.held
            self.held = None
            if header.command == Command.BYE:
                call.sent = False  # "not registered": it goes again after the WELCOME, not a retry
            elif call.cid in self.calls:
                self.result(call, outcome)
        command = header.command
        if command == Command.WELCOME:
            self.welcomed(header)
        elif command == Command.HEARTBEAT:
            pass
        elif command == Command.BYE:
            if self.state == "ready":
                self.state = "hello"
                self.session_lost("BYE from the " + self.name)
                self.send_hello()
        elif command == Command.RESULT:
            pending = self.calls.get(header.callback_id)
            if pending is not None:  # else a duplicate after a retry
                self.result_arrived(pending, Outcome(header.status, body, header.attempts))
        elif command == Command.EXTENDED:
            extended = self.calls.get(header.callback_id)
            if extended is not None:
                extended.local_deadline = _now() + header.timeout_ms / 1000.0
                extended.deadline = max(extended.deadline, extended.local_deadline)
                if extended.on_progress is not None:
                    self.io.agent._run_user(extended.on_progress, body.decode("utf-8", "replace"), header.timeout_ms / 1000.0)
        elif command == Command.ERROR:
            self.error(header, body)
        elif command == Command.CONFIRM:
            publish = self.publishes.pop(header.event_id, None)
            if publish is not None and not publish.future.done():
                publish.future.set_result(header)
        elif command == Command.STATUS_REPLY:
            if self.status_waiters:
                waiter = self.status_waiters.popleft()
                if not waiter.done():
                    waiter.set_result(body)
        elif command == Command.DELIVER and self.name == "broker":
            if self.state == "ready":
                self.io.deliver(wire.Deliver(**header.fields), body, self.session)
        elif command == Command.REVOKE and self.name == "broker":
            self.io.revoke(header.delivery_id)
        elif command in (Command.EVENT, Command.GAP, Command.REPLAY_END) and self.name == "broker":
            self.io.replay_answer(header, body)
        else:
            log.debug("%s sent %s; ignored", self.name, command.name)

    def result_arrived(self, call: _Call, outcome: Outcome) -> None:
        if outcome.status == Status.UNAVAILABLE and outcome.attempts == 0:
            self.held = (call, outcome, _now())  # decided by the next message: a BYE means "not registered"
            return
        self.result(call, outcome)

    def error(self, header: wire.Header, body: bytes) -> None:
        reason = body.decode("utf-8", "replace")
        refused = header.refused_command
        if refused == Command.HELLO and self.state == "hello":
            return self.refused(header.status, reason)
        if refused == Command.REQUEST and header.callback_id in self.calls:
            return self.finish(self.calls[header.callback_id], Outcome(header.status, body, 0))
        if refused == Command.PUBLISH:
            publish = self.publishes.pop(header.callback_id, None)
            if publish is None and header.callback_id == wire.ZERO_ID and len(self.publishes) == 1:
                publish = self.publishes.popitem()[1]  # only one could be meant
            if publish is not None:
                publish.future.set_exception(ParleyError(header.status, reason))
                return
        if refused == Command.STATUS and header.status == Status.OVERLOADED and self.status_waiters:
            waiter = self.status_waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ParleyError(header.status, reason))
            return
        if refused == Command.REPLAY:
            for tracker in self.io.trackers():
                tracker.replays_lost()
        log.warning("%s refused a %s: %s: %s", self.name, _command_name(refused), header.status.name, reason)

    # -- timers ----------------------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        if self.state in ("idle", "failed", "closed"):
            return
        if self.held is not None and now - self.held[2] > 0.2:
            call, outcome, _ = self.held
            self.held = None
            if call.cid in self.calls:
                self.result(call, outcome)
        if self.state == "hello" and now >= self.hello_retry_at:
            log.debug("no WELCOME from the %s at %s yet; reconnecting", self.name, self.endpoint)
            self.open()
        elif self.state == "ready":
            if now - self.last_heard > self.liveness * self.heartbeat:
                self.session_lost(f"silent for {now - self.last_heard:.1f} s")
                self.open()
            elif now - self.last_sent >= self.heartbeat:
                self.send([wire.encode(Command.HEARTBEAT)])
        for call in list(self.calls.values()):
            if call.next_send is not None and now >= call.next_send:
                call.next_send = None
                self.send_call(call)
            if now < call.local_deadline:
                continue
            if self.state != "ready":
                reason = (f"the {self.name} at {self.endpoint} is unreachable (no WELCOME)"
                          if not self.registered_once else f"lost the {self.name} at {self.endpoint}; no answer within the deadline")
                self.finish(call, Outcome(Status.UNAVAILABLE, (reason + self.describe_trouble()).encode(), 0))
            elif call.next_send is not None and call.last is not None:
                self.finish(call, call.last)  # the backoff would end past the deadline
            elif now >= call.local_deadline + self.grace:
                reason = f"no answer from the {self.name} within the deadline" + self.describe_trouble()
                self.finish(call, Outcome(Status.TIMEOUT, reason.encode(), 0))
        for publish in list(self.publishes.values()):
            if now >= publish.deadline:
                self.publishes.pop(publish.eid, None)
                if not publish.future.done():
                    publish.future.set_exception(ParleyError(
                        Status.TIMEOUT if self.state == "ready" else Status.UNAVAILABLE,
                        f"no CONFIRM from the {self.name} at {self.endpoint} in time" + self.describe_trouble()))

    def shutdown(self, why: str) -> None:
        if self.state == "ready":
            self.send([wire.encode(Command.BYE)])
        for call in list(self.calls.values()):
            self.finish(call, Outcome(Status.UNAVAILABLE, why.encode(), 0))
        for publish in list(self.publishes.values()):
            if not publish.future.done():
                publish.future.set_exception(ParleyError(Status.UNAVAILABLE, why))
        self.publishes.clear()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(ParleyError(Status.UNAVAILABLE, why))
        for waiter in self.status_waiters:
            if not waiter.done():
                waiter.set_exception(ParleyError(Status.UNAVAILABLE, why))
        self.close_socket(linger_ms=200)
        self.state = "closed"


def _command_name(code: int) -> str:
    try:
        return Command(code).name
    except ValueError:
        return f"command 0x{code:02x}"


def _full_jitter(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter: a random wait in [0, min(cap, base × 2^attempt))."""
    return random.uniform(0, min(cap, base * (2 ** min(attempt, 20))))


class _Delivery:
    __slots__ = ("request", "session")

    def __init__(self, request: RequestBase, session: int) -> None:
        self.request = request
        self.session = session


class _IO:
    """All sockets and all protocol state of one agent, driven by one thread: its own I/O thread
    (``_ThreadIO``, for ``Agent``) or an asyncio event loop (``parley.aio``, for ``AsyncAgent``). A driver
    watches the sockets, runs ``drain`` when one is readable, runs the operations handed to it, and calls
    ``tick`` at least every ``_POLL_CEILING`` seconds."""

    def __init__(self, agent: "AgentCore") -> None:
        self.agent = agent
        self.ctx = agent._ctx
        self.sockets: Dict[zmq.Socket[Any], _Link] = {}
        self.broker = _Link(self, "broker", agent.broker, agent.capabilities)
        self.gateway = _Link(self, "gateway", agent.gateway, [])
        self.deliveries: Dict[int, _Delivery] = {}
        self.subscriptions: Dict[int, SubscriptionBase] = {}
        self.prefixes: Dict[bytes, int] = {}
        self.sub: Optional[zmq.Socket[Any]] = None
        self.next_sync = _now() + _SYNC_INTERVAL
        self.running = True

    # -- the driver's part ---------------------------------------------------------------------------

    def watch(self, sock: zmq.Socket[Any]) -> None:
        """Start watching ``sock`` for input (a link's DEALER or the SUB)."""
        raise NotImplementedError

    def unwatch(self, sock: zmq.Socket[Any]) -> None:
        raise NotImplementedError

    def run_op(self, op: Callable[["_IO"], None]) -> None:
        try:
            op(self)
        except Exception:
            log.exception("an agent operation failed")

    def transmit(self, sock: zmq.Socket[Any], frames: List[bytes]) -> bool:
        """Sends one message on ``sock`` (a driver may hold it until ``flush``, which comes before the driver next
        waits or reads, and before the socket closes); False when it was dropped."""
        return self.send_now(sock, frames)

    def flush(self) -> None:
        """Sends what ``transmit`` holds."""

    def send_now(self, sock: zmq.Socket[Any], frames: List[bytes]) -> bool:
        try:  # one send per frame: send_multipart costs more than the frames' own sends
            for frame in frames[:-1]:
                sock.send(frame, _SEND_MORE, copy=len(frame) < _ZERO_COPY)
            sock.send(frames[-1], zmq.NOBLOCK, copy=len(frames[-1]) < _ZERO_COPY)
            return True
        except zmq.Again:  # the first frame was refused: nothing went
            link = self.sockets.get(sock)
            log.warning("%s queue full: a message was dropped (it is recovered by a retry)",
                        link.name if link is not None else "socket")
            return False

    def drain_socket(self, sock: Any, limit: int = 1000) -> int:
        """Reads what ``sock`` holds (at most ``limit`` messages); how many were read."""
        if sock is self.sub:
            return self.drain_sub(limit)
        link = self.sockets.get(sock)
        return self.drain(link, limit) if link is not None else 0

    def drain(self, link: _Link, limit: int = 1000) -> int:
        sock = link.sock
        if sock is None:
            return 0
        recv = sock.recv
        for count in range(limit):
            if link.sock is not sock:
                return count
            try:  # a Frame says whether more follow: cheaper than recv_multipart's getsockopt(RCVMORE)
                frame = recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return count
            frames = [frame.bytes]
            while frame.more:
                frame = recv(zmq.NOBLOCK, copy=False)
                frames.append(frame.bytes)
            link.receive(frames)
        return limit

    def link(self, via_gateway: bool) -> _Link:
        return self.gateway if via_gateway else self.broker

    def tick(self) -> None:
        now = _now()
        self.broker.tick(now)
        self.gateway.tick(now)
        if now >= self.next_sync:
            self.next_sync = now + _SYNC_INTERVAL
            for tracker in self.trackers():
                self.send_replays(tracker.sync())

    def close(self, why: str) -> None:
        self.broker.shutdown(why)
        self.gateway.shutdown(why)
        for delivery in self.deliveries.values():
            delivery.request._revoke()
        self.deliveries.clear()
        for subscription in list(self.subscriptions.values()):
            subscription._finish()
        self.subscriptions.clear()
        if self.sub is not None:
            self.unwatch(self.sub)
            self.sub.close(linger=0)
            self.sub = None
        self.running = False

    # -- serving ------------------------------------------------------------------------------------------

    def deliver(self, header: wire.Deliver, body: bytes, session: int) -> None:
        if not self.agent._serving():
            self.send_reply(header.delivery_id, Status.DECLINED,
                            f"agent '{self.agent.id}' serves no requests".encode(), session)
            return
        request = self.agent._new_request(header, body, session)
        self.deliveries[header.delivery_id] = _Delivery(request, session)
        self.agent._start_handler(request)  # after the line above: a handler may answer before it returns

    def revoke(self, delivery_id: int) -> None:
        delivery = self.deliveries.pop(delivery_id, None)
        if delivery is not None:
            delivery.request._revoke()

    def drop_deliveries(self) -> None:
        for delivery in self.deliveries.values():
            delivery.request._revoke()
        self.deliveries.clear()

    def send_reply(self, delivery_id: int, status: Status, body: bytes, session: int) -> None:
        self.deliveries.pop(delivery_id, None)
        if self.broker.state != "ready" or self.broker.session != session:
            return  # the delivery belongs to a previous session: it is redelivered
        self.broker.send([wire.reply_frame(delivery_id, status), body])

    def finish_delivery(self, request: RequestBase, status: Status, body: bytes) -> None:
        if request.delivery_id not in self.deliveries or request.revoked:
            return
        self.send_reply(request.delivery_id, status, body, request._session)

    def send_progress(self, request: RequestBase, extend_ms: int, note: str) -> None:
        delivery = self.deliveries.get(request.delivery_id)
        if delivery is None or self.broker.state != "ready" or self.broker.session != request._session:
            return
        header = wire.encode(Command.PROGRESS, delivery_id=request.delivery_id, extend_ms=extend_ms)
        self.broker.send([header, note.encode("utf-8")] if note else [header])

    # -- events -----------------------------------------------------------------------------------------

    def trackers(self) -> List[Any]:
        return [subscription.tracker for subscription in self.subscriptions.values()]

    def send_replays(self, replays: List[Tuple[str, int, int]]) -> None:
        if self.broker.sock is None:
            return  # asked again after the next WELCOME
        for selector, first, last in replays:
            self.broker.send([wire.encode(Command.REPLAY, selector=selector, from_=first, to=last)], counts=False)

    def subscribe(self, subscription: SubscriptionBase) -> None:
        if self.sub is None:
            self.sub = self.ctx.socket(zmq.SUB)
            self.sub.setsockopt(zmq.LINGER, 0)
            if self.agent.curve is not None:
                self.agent.curve.apply(self.sub, self.agent.curve.broker_key)
            self.sub.setsockopt(zmq.RCVHWM, 10_000)
            self.sub.connect(self.agent.events)
            self.watch(self.sub)
        for selector in subscription.selectors:
            prefix = wire.topic_frame(selector)
            self.prefixes[prefix] = self.prefixes.get(prefix, 0) + 1
            if self.prefixes[prefix] == 1:
                self.sub.setsockopt(zmq.SUBSCRIBE, prefix)
        self.subscriptions[id(subscription)] = subscription
        if self.broker.state == "idle":
            self.broker.open()  # REPLAY needs the DEALER (no registration needed, but we register anyway)
        self.send_replays(subscription.tracker.initial_replays())

    def unsubscribe(self, subscription: SubscriptionBase) -> None:
        if self.subscriptions.pop(id(subscription), None) is None:
            return
        for selector in subscription.selectors:
            prefix = wire.topic_frame(selector)
            self.prefixes[prefix] -= 1
            if self.prefixes[prefix] == 0:
                del self.prefixes[prefix]
                if self.sub is not None:
                    self.sub.setsockopt(zmq.UNSUBSCRIBE, prefix)

    def drain_sub(self, limit: int = 1000) -> int:
        for count in range(limit):
            if self.sub is None:
                return count
            try:
                frames = self.sub.recv_multipart(flags=zmq.NOBLOCK)
            except zmq.Again:
                return count
            if len(frames) < 2:
                continue
            try:
                header = wire.decode(frames[1])
            except wire.DecodeError as error:
                log.warning("undecodable message on the events socket: %s", error)
                continue
            if header.command == Command.EVENT:
                self.event_arrived(header, frames[2] if len(frames) > 2 else b"", replayed=False)
            elif header.command == Command.BEACON:
                for tracker in self.trackers():
                    if tracker.covers(header.topic):
                        self.send_replays(tracker.on_beacon(header.topic, header.latest))
        return limit

    def event_arrived(self, header: wire.Header, body: bytes, replayed: bool) -> None:
        event = Event(header.topic, header.sequence, header.timestamp, header.event_id.hex(), header.content_type, body, replayed)
        for tracker in self.trackers():
            if tracker.covers(event.topic):
                self.send_replays(tracker.on_event(event))

    def replay_answer(self, header: wire.Header, body: bytes) -> None:
        if header.command == Command.EVENT:
            self.event_arrived(header, body, replayed=True)
        elif header.command == Command.GAP:
            for tracker in self.trackers():
                if tracker.covers(header.topic):
                    self.send_replays(tracker.on_gap(header.topic, header.from_, header.to))
        else:
            for tracker in self.trackers():
                self.send_replays(tracker.on_replay_end(header.selector, header.truncated))

    def publish(self, publish: _Publish) -> None:
        link = self.broker
        if link.fatal is not None:
            publish.future.set_exception(link.fatal)
            return
        link.publishes[publish.eid] = publish
        if link.state == "idle":
            link.open()
        elif link.state == "ready":
            link.send(publish.frames)


class _ThreadIO(_IO):
    """The driver of ``Agent``: one I/O thread polling the sockets and a wake-up pipe."""

    def __init__(self, agent: "Agent") -> None:
        super().__init__(agent)
        self.poller = zmq.Poller()
        self.ops: Deque[Callable[[_IO], None]] = collections.deque()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def watch(self, sock: zmq.Socket[Any]) -> None:
        self.poller.register(sock, zmq.POLLIN)

    def unwatch(self, sock: zmq.Socket[Any]) -> None:
        self.poller.unregister(sock)

    def call_soon(self, op: Callable[[_IO], None]) -> None:
        """Runs ``op`` on the I/O thread (callable from any thread)."""
        self.ops.append(op)
        try:
            os.write(self.wake_w, b"!")
        except (BlockingIOError, OSError):
            pass  # already awake (pipe full), or closed

    def run(self) -> None:
        wake = self.wake_r
        self.poller.register(wake, zmq.POLLIN)
        try:
            while self.running:
                ready = dict(self.poller.poll(int(_POLL_CEILING * 1000)))
                if wake in ready:
                    try:
                        while os.read(wake, 4096):
                            pass
                    except BlockingIOError:
                        pass
                while self.ops:
                    self.run_op(self.ops.popleft())
                for sock in list(ready):
                    if sock is not wake:
                        self.drain_socket(sock)
                self.tick()
        except Exception:  # a bug: fail everything loudly rather than hang callers
            log.exception("the Parley I/O thread crashed")
            self.close("the agent's I/O thread crashed")
        finally:
            self.poller.unregister(wake)

    def close_pipe(self) -> None:
        for fd in (self.wake_r, self.wake_w):
            try:
                os.close(fd)
            except OSError:
                pass


def _start_io_thread(ctx: "zmq.Context[Any]") -> None:
    """Starts ``ctx``'s ZMQ I/O thread now, under SCHED_BATCH where Linux offers it. Each message sent wakes the
    I/O thread; a thread of the normal policy then preempts the sender at once (on a busy machine) and writes that
    one message to TCP, so a batch of N messages costs N context switches and N writes on each side. A batch
    thread does not preempt on wake-up: it runs on a free CPU, or when the sender next waits, and writes what
    has accumulated in one go. The thread inherits the policy from this one, which has it only while the
    context starts its threads (at its first socket); libzmq's own ZMQ_THREAD_SCHED_POLICY is not used because
    libzmq aborts the process when the policy cannot be set."""
    switched = False
    if sys.platform == "linux":
        try:
            if os.sched_getscheduler(0) == os.SCHED_OTHER:
                os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
                switched = True
        except OSError:  # not allowed here: the normal policy, as any thread
            pass
    try:
        ctx.socket(zmq.PAIR).close(linger=0)
    finally:
        if switched:
            try:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            except OSError as error:  # never seen: the normal policy is always allowed back
                log.warning("could not restore the calling thread's scheduling policy: %s", error)


def _threaded(call: _Call) -> "concurrent.futures.Future[Outcome]":
    """The future of a call made by ``Agent`` (always a ``concurrent.futures.Future``)."""
    return cast("concurrent.futures.Future[Outcome]", call.future)


def _logged(function: Callable[..., Any], *args: Any) -> None:
    try:
        function(*args)
    except Exception:
        log.exception("callback %r raised", function)


def _failure_reply(request: RequestBase, error: BaseException) -> Tuple[Status, bytes]:
    """What a handler's exception answers: DECLINED for ``Decline``, FAILED with the reason otherwise."""
    if isinstance(error, Decline):
        return Status.DECLINED, error.reason.encode("utf-8")
    if isinstance(error, Fail):
        return Status.FAILED, error.reason.encode("utf-8")
    log.warning("handler failed for %r: %s: %s", request, type(error).__name__, error)
    return Status.FAILED, f"{type(error).__name__}: {error}".encode("utf-8")


def _start_connect(io: _IO, waiter: "concurrent.futures.Future[None]") -> None:
    """Registers with the broker, or notes ``waiter`` for the WELCOME (on the driver's thread)."""
    link = io.broker
    if link.fatal is not None:  # refused before: try again (the id may be free by now)
        link.fatal, link.state = None, "idle"
    if link.state == "ready":
        waiter.set_result(None)
    else:
        link.waiters.append(waiter)
        if link.state == "idle":
            link.open()


def _connect_failed(io: _IO, waiter: "concurrent.futures.Future[None]", limit: float) -> ParleyError:
    """No WELCOME in time: forget ``waiter`` and say why (on the driver's thread)."""
    if waiter in io.broker.waiters:
        io.broker.waiters.remove(waiter)
    return ParleyError(Status.UNAVAILABLE, f"no WELCOME from the broker at {io.agent.broker} within {limit:g} s"
                       + io.broker.describe_trouble())


# ------------------------------------------------------------------------------------------------------
# The public API


class AgentCore:
    """What ``Agent`` (threads) and ``parley.aio.AsyncAgent`` (asyncio) share: the configuration, the
    preparation of requests, publishes and subscriptions, and the local event bus. Subclasses supply the
    driver: ``_schedule`` runs an operation on the driver's thread, and the handler hooks."""

    def __init__(self, id: str, layer: str, capabilities: Sequence[str] = (), broker: str = DEFAULT_BROKER,
                 events: str = DEFAULT_EVENTS, gateway: str = DEFAULT_GATEWAY, *, connect_timeout: float = 10.0,
                 publish_timeout: float = 10.0, base_backoff: float = 0.1, max_backoff: float = 5.0,
                 deadline_warning: float = 0.8, curve: Optional[CurveKeys] = None) -> None:
        problem = wire.agent_problem(id) or wire.layer_problem(layer)
        if not problem and len(capabilities) > wire.MAX_CAPABILITIES:
            problem = f"more than {wire.MAX_CAPABILITIES} capabilities"
        problem = problem or next((p for p in map(wire.capability_problem, capabilities) if p), None)
        if problem:
            raise ValueError(f"invalid agent configuration: {problem}")
        self.id = id
        self.layer = layer
        self.capabilities = list(dict.fromkeys(capabilities))
        self.broker = broker
        self.events = events
        self.gateway = gateway
        self.curve = curve
        self.connect_timeout = connect_timeout
        self.publish_timeout = publish_timeout
        self._base_backoff = base_backoff
        self._max_backoff = max_backoff
        self._deadline_warning = deadline_warning
        self._instance = random.getrandbits(64)  # once per process: a reconnect takes the registration back
        # Callback ids: 8 random bytes of this agent object, then a counter. The broker's de-duplication keys are
        # (agent id, callback id): another process with this id draws another prefix. No system call per request.
        self._cid_prefix = os.urandom(8)
        self._cid_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))
        self.bus = ev.EventBus()
        self.bus.on_failure(self._report_handler_failure)
        self._ctx = zmq.Context()
        _start_io_thread(self._ctx)
        self._closed = False

    # -- the driver's part --------------------------------------------------------------------------------

    def _schedule(self, op: Callable[[_IO], None]) -> None:
        """Runs ``op`` on the driver's thread (callable from any thread)."""
        raise NotImplementedError

    def _serving(self) -> bool:
        """Whether a request handler is set."""
        raise NotImplementedError

    def _new_request(self, header: wire.Deliver, body: bytes, session: int) -> RequestBase:
        """The request object of a delivery (on the driver's thread)."""
        raise NotImplementedError

    def _start_handler(self, request: RequestBase) -> None:
        """Starts the handler on a delivered request (on the driver's thread)."""
        raise NotImplementedError

    def _new_future(self) -> "_Outcomes":
        """The future a call's ``Outcome`` goes to (set on the driver's thread)."""
        return concurrent.futures.Future()

    def _run_user(self, function: Callable[..., Any], *args: Any) -> None:
        """Runs application code (a progress callback) without holding up the driver."""
        raise NotImplementedError

    # -- shared preparation ---------------------------------------------------------------------------------

    def _prepare_call(self, kind: "Kind | str", target: str, payload: Any, timeout: float, retries: int,
                      content_type: str, on_progress: Optional[Callable[[str, float], None]]) -> _Call:
        if _target_problem(target):
            raise ValueError(f"invalid target {target!r}: use agent:<id>, cap:<name> or layer:<name>[/<cap>]")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        cid = self._cid_prefix + next(self._cid_counter).to_bytes(8, "big")
        return _Call(cid, Kind.parse(kind), target, content_type, _encode_payload(payload), timeout, retries, on_progress,
                     self._new_future())

    def _prepare_legs(self, targets: Sequence[str], task: Any, gather: Gather, timeout: float,
                      retries: int) -> Tuple[List[_Call], int]:
        """One COORDINATE call per target (the same encoded task) and the number of OK answers needed."""
        if isinstance(targets, str) or not targets:
            raise ValueError("coordinate needs a non-empty sequence of targets")
        needed = _gather_needed(gather, len(targets))
        body = _encode_payload(task)
        calls = [self._prepare_call(Kind.COORDINATE, target, body, timeout, retries, "application/json", None)
                 for target in targets]
        return calls, needed

    def _layer_target(self, to_layer: str, need: Optional[str]) -> str:
        """The gateway target ``layer:<to_layer>[/<need>]``; ValueError for bad names or a missing gateway key."""
        problem = wire.layer_problem(to_layer) or (wire.capability_problem(need) if need is not None else None)
        if problem:
            raise ValueError(problem)
        if self.curve is not None and self.curve.gateway_key is None:
            raise ValueError("CURVE is configured without the gateway's public key (CurveKeys.gateway_key)")
        return f"layer:{to_layer}" + (f"/{need}" if need is not None else "")

    def _prepare_publish(self, event: str, data: Any, content_type: str, timeout: Optional[float]) -> _Publish:
        topic = wire.topic(self.id, event)
        eid = os.urandom(16)
        header = wire.encode(Command.PUBLISH, event_id=eid, topic=topic, content_type=content_type)
        return _Publish([header, _encode_payload(data)], eid, self.publish_timeout if timeout is None else timeout)

    def _selectors(self, agent: str, events: Optional[Sequence[str]]) -> List[str]:
        problem = wire.agent_problem(agent)
        if problem:
            raise ValueError(problem)
        return [wire.topic(agent, name) for name in events] if events else [f"callback.{agent}."]

    def _handler_started(self, request: RequestBase) -> None:
        """The local HELP_NEEDED event, before a help request's handler runs."""
        if request.kind == "help" and self.bus.handler_count(ev.HELP_NEEDED):
            self.bus.dispatch(ev.EventContext(ev.HELP_NEEDED, request.requester, request.body))

    def _warn_deadline(self, request: RequestBase) -> None:
        data = _encode_payload({"callbackID": request.callback_id, "secondsLeft": round(request.deadline - _now(), 3)})
        self.bus.dispatch(ev.EventContext(ev.DEADLINE_APPROACHING, request.requester, data))

    # -- local events ---------------------------------------------------------------------------------------

    def on(self, event: str, handler: Optional[Callable[[ev.EventContext], Any]] = None, *, priority: int = 0,
           once: bool = False) -> Any:
        """Registers a local handler for ``event`` and returns its token (a decorator without ``handler``).
        See ``EventBus.on`` for the chain rules."""
        return self.bus.on(event, handler, priority=priority, once=once)

    def off(self, token: ev.HandlerToken) -> bool:
        """Removes a handler registered with ``on``."""
        return self.bus.off(token)

    def _started(self) -> bool:
        """Whether the driver runs (a best-effort publish needs it)."""
        raise NotImplementedError

    def _report_handler_failure(self, failure: ev.HandlerFailure) -> None:
        detail = {"event": failure.event, "handler": repr(failure.token), "reason": failure.reason}
        payload = _encode_payload(detail)
        self.bus.dispatch(ev.EventContext(ev.ERROR, self.id, payload))
        if self._started() and not self._closed:  # best effort, without waiting for the CONFIRM
            publish = self._prepare_publish(ev.ERROR, payload, "application/json", None)
            publish.future.add_done_callback(lambda f: f.exception())  # consume the outcome
            self._schedule(lambda io: io.publish(publish))


class Agent(AgentCore):
    """A Parley agent.

    >>> agent = Agent("py-helper", "domain", ["math"])          # doctest: +SKIP
    >>> agent.serve(lambda request: {"answer": 42})             # doctest: +SKIP
    >>> agent.connect()                                          # doctest: +SKIP

    ``id``: 1–64 of ``A–Z a–z 0–9 _ -``; ``layer``: 1–32 of ``a–z 0–9 _ -``; ``capabilities``: what it serves
    through ``cap:<name>`` targets. ``broker``/``events``: the broker's ROUTER and XPUB endpoints;
    ``gateway``: the gateway's endpoint, used by cross-layer calls only. ``curve``: ``CurveKeys`` when the
    broker and gateway run with CURVE keys; None in development mode.
    """

    def __init__(self, id: str, layer: str, capabilities: Sequence[str] = (), broker: str = DEFAULT_BROKER,
                 events: str = DEFAULT_EVENTS, gateway: str = DEFAULT_GATEWAY, *, connect_timeout: float = 10.0,
                 publish_timeout: float = 10.0, base_backoff: float = 0.1, max_backoff: float = 5.0,
                 handler_threads: int = 8, deadline_warning: float = 0.8, curve: Optional[CurveKeys] = None) -> None:
        super().__init__(id, layer, capabilities, broker, events, gateway, connect_timeout=connect_timeout,
                         publish_timeout=publish_timeout, base_backoff=base_backoff, max_backoff=max_backoff,
                         deadline_warning=deadline_warning, curve=curve)
        self._handler_threads = handler_threads
        self._handler: Optional[Callable[[Request], Any]] = None
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._pool_lock = threading.Lock()
        self._io = _ThreadIO(self)
        self._thread: Optional[threading.Thread] = None
        self._start_lock = threading.Lock()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        with self._start_lock:
            if self._closed:
                raise ParleyError(Status.UNAVAILABLE, "the agent is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._io.run, name=f"parley-io-{self.id}", daemon=True)
                self._thread.start()

    def _schedule(self, op: Callable[[_IO], None]) -> None:
        self._io.call_soon(op)

    def _started(self) -> bool:
        return self._thread is not None

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(self._handler_threads, thread_name_prefix=f"parley-{self.id}")
            return self._pool

    def _run_user(self, function: Callable[..., Any], *args: Any) -> None:
        self._executor().submit(_logged, function, *args)

    def _wait(self, future: "concurrent.futures.Future[Any]", limit: float, what: str) -> Any:
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            raise ParleyError(Status.TIMEOUT, f"{what}: the agent's I/O thread did not answer within {limit:.1f} s") from None

    # -- session ----------------------------------------------------------------------------------------

    def connect(self, timeout: Optional[float] = None) -> "Agent":
        """Registers with the broker (HELLO → WELCOME). Raises ``ParleyError``: UNAUTHORIZED or BAD_REQUEST
        when the broker refuses the registration, UNAVAILABLE when no WELCOME came within ``timeout``
        (default ``connect_timeout``). Afterwards the agent re-registers by itself whenever needed."""
        limit = self.connect_timeout if timeout is None else timeout
        self._ensure_thread()
        waiter: "concurrent.futures.Future[None]" = concurrent.futures.Future()
        self._schedule(lambda io: _start_connect(io, waiter))
        try:
            waiter.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            failure: "concurrent.futures.Future[ParleyError]" = concurrent.futures.Future()
            self._schedule(lambda io: failure.set_result(_connect_failed(io, waiter, limit)))
            try:
                error = failure.result(timeout=2.0)
            except concurrent.futures.TimeoutError:
                error = ParleyError(Status.UNAVAILABLE, f"no WELCOME from the broker at {self.broker} within {limit:g} s")
            raise error from None
        return self

    def close(self) -> None:
        """Says BYE and stops. Requests still open end with UNAVAILABLE; subscriptions end."""
        with self._start_lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._schedule(lambda io: io.close("the agent closed"))
            thread.join(timeout=5.0)
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        if thread is None or not thread.is_alive():
            self._ctx.term()  # every socket is closed: the I/O thread closed them (or never made any)
        self._io.close_pipe()

    def __enter__(self) -> "Agent":
        return self.connect()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- asking -----------------------------------------------------------------------------------------

    def request(self, kind: "Kind | str", target: str, payload: Any, *, timeout: float = 30.0, retries: int = 3,
                content_type: str = "application/json", on_progress: Optional[Callable[[str, float], None]] = None,
                via_gateway: bool = False) -> Outcome:
        """Sends one request and returns its ``Outcome`` whatever the status (no exception for DECLINED …).

        ``payload`` is JSON-encoded (``bytes`` are sent as they are). Retries after OVERLOADED (through the
        gateway also after UNAVAILABLE) with exponential backoff and full jitter, reusing the callback id, while
        time is left. The broker's UNAVAILABLE (an agent left, the broker shutting down) comes back at once.
        Always returns by ``timeout`` plus a grace of about two heartbeats.
        """
        call = self._prepare_call(kind, target, payload, timeout, retries, content_type, on_progress)
        self._ensure_thread()
        self._schedule(lambda io: io.link(via_gateway).start_call(call))
        outcome: Outcome = self._wait(_threaded(call), timeout + 10.0, "request")
        return outcome

    def request_help(self, target: str, problem: Any, timeout: float = 30.0, retries: int = 3) -> Any:
        """Asks ``target`` (``agent:<id>`` or ``cap:<name>``) for help; returns the decoded JSON answer or
        raises ``ParleyError(status, reason)``."""
        return self.request(Kind.HELP, target, problem, timeout=timeout, retries=retries).value()

    def request_clarification(self, target: str, question: Any, timeout: float = 30.0, retries: int = 3) -> Any:
        """Asks ``target`` to clarify ``question``; returns the decoded JSON answer or raises ``ParleyError``."""
        return self.request(Kind.CLARIFICATION, target, question, timeout=timeout, retries=retries).value()

    def coordinate(self, targets: Sequence[str], task: Any, gather: Gather = "all", timeout: float = 30.0,
                   retries: int = 3) -> List[CoordinationReply]:
        """Sends ``task`` to every target at once (requests of kind ``coordinate``) and gathers the replies, in
        the order they arrive: all of them (``gather="all"``), the first OK one (``"first"``) or the first n OK
        ones (``gather=n``); the legs still running are then cancelled. Raises ``ParleyError(FAILED)`` when
        ``"first"`` or a quorum cannot be reached. Returns by ``timeout`` plus the grace of ``request``."""
        calls, needed = self._prepare_legs(targets, task, gather, timeout, retries)
        self._ensure_thread()
        pending: Dict["concurrent.futures.Future[Outcome]", _Call] = {}
        for call in calls:
            pending[_threaded(call)] = call
            self._schedule(_on_broker(_Link.start_call, call))
        replies: List[CoordinationReply] = []
        answered = 0
        limit = _now() + timeout + 10.0
        try:
            while pending and not (gather != "all" and answered >= needed):
                done, _ = concurrent.futures.wait(list(pending), timeout=max(0.0, limit - _now()),
                                                  return_when=concurrent.futures.FIRST_COMPLETED)
                if not done:
                    raise ParleyError(Status.TIMEOUT, f"coordinate: the agent's I/O thread did not answer within "
                                                      f"{timeout + 10.0:.1f} s")
                for call in [c for c in calls if _threaded(c) in done]:
                    future = _threaded(call)
                    del pending[future]
                    reply = _leg_reply(call.target, future.result())
                    replies.append(reply)
                    answered += reply.answered
                    if gather != "all" and answered >= needed:
                        break
        finally:
            for call in pending.values():
                self._schedule(_on_broker(_Link.cancel, call))
        if gather != "all" and answered < needed:
            raise _short_of_quorum(answered, needed)
        return replies

    # -- cross-layer calls ----------------------------------------------------------------------------------

    def execute(self, to_layer: str, need: Optional[str], payload: Any, timeout: float = 30.0, retries: int = 3,
                kind: "Kind | str" = Kind.CALL) -> Any:
        """Calls another layer through the gateway (target ``layer:<to_layer>/<need>``), which checks the
        policy. Returns the decoded answer or raises ``ParleyError``: UNAUTHORIZED when the policy forbids
        the edge, OVERLOADED over the rate, UNAVAILABLE when the gateway cannot be reached (fail closed)."""
        return self.execute_outcome(to_layer, need, payload, timeout, retries, kind).value()

    def execute_outcome(self, to_layer: str, need: Optional[str], payload: Any, timeout: float = 30.0, retries: int = 3,
                        kind: "Kind | str" = Kind.CALL) -> Outcome:
        """Like ``execute``, returning the ``Outcome`` whatever its status."""
        target = self._layer_target(to_layer, need)
        return self.request(kind, target, payload, timeout=timeout, retries=retries, via_gateway=True)

    def domain_to_infrastructure(self, context: Any, need: str, timeout: float = 30.0) -> Any:
        """A domain agent asks the infrastructure layer for what it ``need``s (a port), e.g. ``persistence``."""
        return self.execute("infrastructure", need, context, timeout=timeout)

    def application_to_domain(self, use_case: Any, expertise: str, timeout: float = 30.0) -> Any:
        """An application agent asks the domain layer for ``expertise`` on a use case."""
        return self.execute("domain", expertise, use_case, timeout=timeout)

    # -- serving ----------------------------------------------------------------------------------------

    def serve(self, handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """Serves requests with ``handler`` (usable as a decorator). It gets a ``Request`` and returns the
        answer (JSON-encoded; ``bytes`` as they are), or raises ``Decline(reason)`` / ``Fail(reason)``; any
        other exception answers FAILED. Handlers run on a thread pool, several at a time."""
        self._handler = handler
        return handler

    def _serving(self) -> bool:
        return self._handler is not None

    def _new_request(self, header: wire.Deliver, body: bytes, session: int) -> RequestBase:
        return Request(self, header, body, session)

    def _start_handler(self, request: RequestBase) -> None:
        handler = self._handler
        assert handler is not None and isinstance(request, Request)
        self._executor().submit(self._run_handler, handler, request)

    def _run_handler(self, handler: Callable[[Request], Any], request: Request) -> None:
        warning: Optional[threading.Timer] = None
        self._handler_started(request)
        if self.bus.handler_count(ev.DEADLINE_APPROACHING):
            warning = threading.Timer(max(0.0, request.timeout * self._deadline_warning), self._warn_deadline, (request,))
            warning.daemon = True
            warning.start()
        try:
            status, body = Status.OK, _encode_payload(handler(request))
        except Exception as error:
            status, body = _failure_reply(request, error)
        finally:
            if warning is not None:
                warning.cancel()
        self._schedule(lambda io: io.finish_delivery(request, status, body))

    # -- events -----------------------------------------------------------------------------------------

    def publish(self, event: str, data: Any = None, *, content_type: str = "application/json",
                timeout: Optional[float] = None) -> int:
        """Publishes ``event`` on ``callback.<own id>.<event>``, waits for the broker's CONFIRM and returns the
        event's sequence number. ``data`` is JSON-encoded (``bytes`` as they are). Resent with the same event
        id after a reconnect; the broker de-duplicates."""
        publish = self._prepare_publish(event, data, content_type, timeout)
        self._ensure_thread()
        self._schedule(lambda io: io.publish(publish))
        confirm: wire.Header = self._wait(publish.future, publish.deadline - _now() + 10.0, "publish")
        return int(confirm.sequence)

    def trigger(self, event: str, data: Any = None) -> TriggerReport:
        """Runs the local handlers for ``event``, then publishes it for other agents."""
        payload = _encode_payload(data)
        report = self.bus.dispatch(ev.EventContext(event, self.id, payload))
        return TriggerReport(report, self.publish(event, payload))

    def subscribe(self, agent: str, events: Optional[Sequence[str]] = None, start: Optional[int] = None) -> Subscription:
        """Receives ``agent``'s events (all of them, or only ``events``) in per-topic sequence order. Missed
        events are replayed; those the broker no longer retains come as ``Gap`` notices. ``start=None``
        begins with the first live event of each topic; ``start=1`` (or any sequence) replays from there."""
        subscription = Subscription(self._selectors(agent, events), start,
                                    lambda s: self._schedule(lambda io: io.unsubscribe(s)))
        self._ensure_thread()
        self._schedule(lambda io: io.subscribe(subscription))
        return subscription

    # -- administration ---------------------------------------------------------------------------------

    def broker_status(self, timeout: float = 3.0) -> Any:
        """The broker's STATUS_REPLY document (agents, pending requests, counters) as a dict."""
        waiter: "concurrent.futures.Future[bytes]" = concurrent.futures.Future()

        def ask(io: _IO) -> None:
            link = io.broker
            if link.state == "idle":
                link.open()
            link.status_waiters.append(waiter)
            link.send([wire.encode(Command.STATUS)], counts=False)

        self._ensure_thread()
        deadline = time.monotonic() + timeout
        while True:
            waiter = concurrent.futures.Future()
            self._schedule(ask)
            try:
                return json.loads(waiter.result(timeout=max(deadline - time.monotonic(), 0.001)))
            except concurrent.futures.TimeoutError:
                raise ParleyError(Status.TIMEOUT, f"no STATUS_REPLY from the broker at {self.broker} within {timeout:g} s") from None
            except ParleyError as error:
                # Asked too often on this connection: the broker's limit refills within a second.
                if error.status != Status.OVERLOADED or time.monotonic() + 0.1 >= deadline:
                    raise
                time.sleep(0.1)

"""The Parley agent for asyncio: the same protocol core as ``Agent``, driven by the event loop.

>>> async def main():                                                    # doctest: +SKIP
...     async with AsyncAgent("py-asker", "domain") as agent:
...         print(await agent.request_help("cap:math", {"multiply": [6, 7]}))

No thread and no blocking call: every socket is watched with ``loop.add_reader`` on its ZMQ file descriptor
and drained until EAGAIN after each readiness, each operation and each timer tick (the descriptor is
edge-triggered). Request handlers are coroutines, run as tasks of the same loop. Cancelling a task that
awaits a request sends CANCEL; the call ends CANCELLED. ``close()`` ends every pending call with
``ParleyError(UNAVAILABLE, "the agent closed")``. The retry rules are the core's, shared with ``Agent``
(PROTOCOL.md §11).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import sys
import threading
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Set, Tuple, TypeVar, cast

import zmq

from . import events as ev
from . import wire
from .agent import (_IO, _POLL_CEILING, DEFAULT_BROKER, DEFAULT_EVENTS, DEFAULT_GATEWAY, AgentCore,
                    CoordinationReply, CurveKeys, Gather, Outcome, RequestBase, TriggerReport, _Call,
                    _connect_failed, _encode_payload, _failure_reply, _leg_reply, _logged, _short_of_quorum,
                    _start_connect)
from .errors import ParleyError
from .subscription import Notice, SubscriptionBase
from .wire import Kind, Status

log = logging.getLogger("parley")

T = TypeVar("T")

# Messages read from a socket before the loop's other callbacks get a turn: the tasks a batch of RESULTs wakes
# ask again and their requests leave before the rest is read, so that the peers work at the same time.
_TURN = 32


class AsyncRequest(RequestBase):
    """A request delivered to an ``AsyncAgent``'s handler. Its task is cancelled when the broker takes the
    request back (the requester cancelled, the deadline passed, a redelivery) or the agent closes."""

    _task: Optional["asyncio.Task[None]"] = None

    async def progress(self, extend_seconds: float, note: str = "") -> None:
        """Still working: asks for ``extend_seconds`` more from now (the broker caps it at its hard maximum).
        ``note`` goes to the requester."""
        self._progress(extend_seconds, note)

    def _revoke(self) -> None:
        super()._revoke()
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            coroutine = task.get_coro()
            if inspect.iscoroutine(coroutine) and inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED:
                cast("AsyncAgent", self._agent)._tasks.discard(task)  # its coroutine will never run


AsyncHandler = Callable[[AsyncRequest], Awaitable[Any]]


class AsyncSubscription(SubscriptionBase):
    """Events of the subscribed topics in per-topic order, and ``Gap`` notices: ``async for notice in it``,
    or ``await get(timeout)``. ``close()`` ends it."""

    _END = object()

    def __init__(self, selectors: Sequence[str], start: Optional[int], closer: Callable[[Any], None]) -> None:
        self._queue: "asyncio.Queue[Any]" = asyncio.Queue()
        super().__init__(list(selectors), start, closer)

    def _put(self, notice: Notice) -> None:
        self._queue.put_nowait(notice)

    def _end(self) -> None:
        self._queue.put_nowait(AsyncSubscription._END)

    async def get(self, timeout: Optional[float] = None) -> Optional[Notice]:
        """The next notice; None when ``timeout`` seconds pass first or the subscription has ended."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None
        if item is AsyncSubscription._END:
            self._queue.put_nowait(item)  # keep it for other waiters
            return None
        notice: Notice = item
        return notice

    def __aiter__(self) -> "AsyncSubscription":
        return self

    async def __anext__(self) -> Notice:
        notice = await self.get()
        if notice is None:
            raise StopAsyncIteration
        return notice

    async def __aenter__(self) -> "AsyncSubscription":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.close()


class _LoopIO(_IO):
    """The driver of ``AsyncAgent``: readers on the sockets' file descriptors and a timer, on one loop."""

    def __init__(self, agent: "AsyncAgent") -> None:
        super().__init__(agent)
        self.loop: Optional[asyncio.AbstractEventLoop] = None
        self.watched: Dict[zmq.Socket[Any], int] = {}
        self.timer: Optional[asyncio.TimerHandle] = None
        self.pumping = False
        self.pump_scheduled = False
        self.outbox: List[Tuple[zmq.Socket[Any], List[bytes]]] = []

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.timer = loop.call_later(_POLL_CEILING, self.on_timer)

    def watch(self, sock: zmq.Socket[Any]) -> None:
        assert self.loop is not None
        fd = cast(int, sock.getsockopt(zmq.FD))
        self.watched[sock] = fd
        self.loop.add_reader(fd, self.guarded, self.pump)

    def unwatch(self, sock: zmq.Socket[Any]) -> None:
        fd = self.watched.pop(sock, None)
        if fd is not None and self.loop is not None:
            self.loop.remove_reader(fd)

    def run_op(self, op: Callable[[_IO], None]) -> None:
        super().run_op(op)
        self.schedule_pump()

    def run_now(self, step: Callable[..., None], *args: Any) -> None:
        """``step(*args)`` as an operation, called on the loop's thread."""
        try:
            step(*args)
        except Exception:
            log.exception("an agent operation failed")
        self.schedule_pump()

    def transmit(self, sock: zmq.Socket[Any], frames: List[bytes]) -> bool:
        """Holds the message until the pump that ends this loop iteration (or the pass of the pump running now):
        the messages of one iteration leave together, one wake-up of the ZMQ I/O thread for all."""
        self.outbox.append((sock, frames))
        if not self.pumping:
            self.schedule_pump()
        return True

    def flush(self) -> None:
        while self.outbox:
            outbox, self.outbox = self.outbox, []
            for sock, frames in outbox:
                self.send_now(sock, frames)

    def schedule_pump(self) -> None:
        """One pump after this loop iteration's operations, not one per operation: the loop runs it before it
        waits again (a ready callback makes its poll return at once), so a send that took the descriptor's edge
        is still followed by a read."""
        if self.pump_scheduled or self.loop is None:
            return
        self.pump_scheduled = True
        self.loop.call_soon(self.scheduled_pump)

    def scheduled_pump(self) -> None:
        self.pump_scheduled = False
        self.guarded(self.pump)

    def on_timer(self) -> None:
        self.guarded(self.tick)
        self.guarded(self.pump)
        if self.running and self.loop is not None:
            self.timer = self.loop.call_later(_POLL_CEILING, self.on_timer)

    def pump(self) -> None:
        """Sends what the outbox holds, then reads every socket until EAGAIN (the ZMQ descriptor only signals
        edges, and a send may take one), until a pass leaves nothing to send: then every socket was read to EAGAIN
        after the last send."""
        if self.pumping:
            return  # a send inside a receive: the outer pass goes on reading
        self.pumping = True
        try:
            while True:
                self.flush()
                counts = [self.drain_socket(sock, _TURN) for sock in list(self.watched)]
                if max(counts, default=0) >= _TURN:  # more wait: first let what this read wake run, then go on
                    self.schedule_pump()
                    return
                if not self.outbox:
                    return
        finally:
            self.pumping = False

    def guarded(self, step: Callable[[], None]) -> None:
        if not self.running:
            return
        try:
            step()
        except Exception:  # a bug: fail everything loudly rather than hang callers
            log.exception("the Parley event-loop driver crashed")
            self.close("the agent's event-loop driver crashed")

    def close(self, why: str) -> None:
        super().close(why)
        for sock in list(self.watched):
            self.unwatch(sock)
        if self.timer is not None:
            self.timer.cancel()


class AsyncAgent(AgentCore):
    """A Parley agent for asyncio. The constructor is ``Agent``'s (without ``handler_threads``); the agent
    binds to the running loop at its first use (``connect``, a request, ``subscribe`` …) and stays on it."""

    def __init__(self, id: str, layer: str, capabilities: Sequence[str] = (), broker: str = DEFAULT_BROKER,
                 events: str = DEFAULT_EVENTS, gateway: str = DEFAULT_GATEWAY, *, connect_timeout: float = 10.0,
                 publish_timeout: float = 10.0, base_backoff: float = 0.1, max_backoff: float = 5.0,
                 deadline_warning: float = 0.8, curve: Optional[CurveKeys] = None) -> None:
        super().__init__(id, layer, capabilities, broker, events, gateway, connect_timeout=connect_timeout,
                         publish_timeout=publish_timeout, base_backoff=base_backoff, max_backoff=max_backoff,
                         deadline_warning=deadline_warning, curve=curve)
        self._handler: Optional[AsyncHandler] = None
        self._io = _LoopIO(self)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._loop_thread = 0
        self._tasks: Set["asyncio.Task[None]"] = set()

    # -- plumbing ---------------------------------------------------------------------------------------

    def _on_loop(self) -> bool:
        """Whether the agent's loop runs this code, without asyncio.get_running_loop() (a getpid() system call
        each time): a thread runs one loop at a time, and a running BaseEventLoop notes its thread."""
        loop = self._loop
        return loop is not None and getattr(loop, "_thread_id", None) == threading.get_ident()

    def _bind(self) -> asyncio.AbstractEventLoop:
        if self._closed:
            raise ParleyError(Status.UNAVAILABLE, "the agent is closed")
        if self._on_loop():
            return cast(asyncio.AbstractEventLoop, self._loop)
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop, self._loop_thread = loop, threading.get_ident()
            self._io.start(loop)
        elif self._loop is not loop:
            raise RuntimeError("an AsyncAgent serves the one event loop it first ran on")
        return loop

    def _schedule(self, op: Callable[[_IO], None]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            loop.call_soon(self._io.run_op, op)
        else:
            loop.call_soon_threadsafe(self._io.run_op, op)

    def _started(self) -> bool:
        return self._loop is not None

    def _bridge(self, source: "concurrent.futures.Future[T]") -> "asyncio.Future[T]":
        """An asyncio future with ``source``'s outcome. Cancelling it leaves ``source`` alone: the caller
        decides what a cancellation means."""
        assert self._loop is not None
        target: "asyncio.Future[T]" = self._loop.create_future()

        def copy(done: "concurrent.futures.Future[T]") -> None:
            if target.done():
                return
            error = done.exception()
            if error is not None:
                target.set_exception(error)
            else:
                target.set_result(done.result())

        def copy_on_loop(done: "concurrent.futures.Future[T]") -> None:
            if threading.get_ident() == self._loop_thread:
                copy(done)
            elif self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(copy, done)

        source.add_done_callback(copy_on_loop)
        return target

    def _run_user(self, function: Callable[..., Any], *args: Any) -> None:
        if self._loop is not None:
            self._loop.call_soon(_logged, function, *args)

    # -- session ----------------------------------------------------------------------------------------

    async def connect(self, timeout: Optional[float] = None) -> "AsyncAgent":
        """Registers with the broker (HELLO → WELCOME); raises ``ParleyError`` as ``Agent.connect``."""
        limit = self.connect_timeout if timeout is None else timeout
        self._bind()
        waiter: "concurrent.futures.Future[None]" = concurrent.futures.Future()
        self._schedule(lambda io: _start_connect(io, waiter))
        try:
            await asyncio.wait_for(self._bridge(waiter), limit)
        except asyncio.TimeoutError:
            raise _connect_failed(self._io, waiter, limit) from None
        return self

    async def close(self) -> None:
        """Says BYE and stops. Pending calls end with ``ParleyError(UNAVAILABLE, "the agent closed")``, handler
        tasks are cancelled, subscriptions end."""
        if self._closed:
            return
        self._closed = True
        if self._loop is not None:
            self._io.run_op(lambda io: io.close("the agent closed"))
            await asyncio.sleep(0)  # let the awaiting tasks see their outcome
            await self._loop.run_in_executor(None, self._ctx.term)  # waits for the BYE's linger
        else:
            self._ctx.term()

    async def __aenter__(self) -> "AsyncAgent":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- asking -----------------------------------------------------------------------------------------

    async def request(self, kind: "Kind | str", target: str, payload: Any, *, timeout: float = 30.0,
                      retries: int = 3, content_type: str = "application/json",
                      on_progress: Optional[Callable[[str, float], None]] = None, via_gateway: bool = False) -> Outcome:
        """Like ``Agent.request``: one request, its ``Outcome`` whatever the status, by ``timeout`` plus a grace
        of about two heartbeats. Cancelling the awaiting task sends CANCEL and ends the call CANCELLED."""
        call = self._prepare_call(kind, target, payload, timeout, retries, content_type, on_progress)
        self._bind()
        return await self._outcome(call, via_gateway)

    def _new_future(self) -> "asyncio.Future[Outcome]":
        loop = self._loop if self._on_loop() else asyncio.get_running_loop()
        assert loop is not None
        return loop.create_future()

    async def _outcome(self, call: _Call, via_gateway: bool) -> Outcome:
        io = self._io  # on the loop's thread: the driver's state is ours to touch, no operation to schedule
        link = io.link(via_gateway)
        io.run_now(link.start_call, call)
        try:
            return await cast("asyncio.Future[Outcome]", call.future)
        except asyncio.CancelledError:  # the future is cancelled with the awaiting task
            io.run_now(link.cancel, call)
            raise

    async def request_help(self, target: str, problem: Any, timeout: float = 30.0, retries: int = 3) -> Any:
        """The decoded JSON answer of ``target`` to a help request, or ``ParleyError(status, reason)``."""
        return (await self.request(Kind.HELP, target, problem, timeout=timeout, retries=retries)).value()

    async def request_clarification(self, target: str, question: Any, timeout: float = 30.0, retries: int = 3) -> Any:
        """The decoded JSON answer of ``target`` to a clarification request, or ``ParleyError``."""
        return (await self.request(Kind.CLARIFICATION, target, question, timeout=timeout, retries=retries)).value()

    async def coordinate(self, targets: Sequence[str], task: Any, gather: Gather = "all", timeout: float = 30.0,
                         retries: int = 3) -> List[CoordinationReply]:
        """Sends ``task`` to every target at once (requests of kind ``coordinate``) and gathers the replies in
        the order they arrive: all of them (``gather="all"``), the first OK one (``"first"``) or the first n OK
        ones (``gather=n``); the legs still running are then cancelled (CANCEL), as they are when the awaiting
        task is cancelled. Raises ``ParleyError(FAILED)`` when ``"first"`` or the quorum cannot be reached."""
        calls, needed = self._prepare_legs(targets, task, gather, timeout, retries)
        self._bind()
        legs: Dict["asyncio.Future[Outcome]", _Call] = {
            asyncio.ensure_future(self._outcome(call, False)): call for call in calls}
        order = {call.cid: index for index, call in enumerate(calls)}
        pending: Set["asyncio.Future[Outcome]"] = set(legs)
        replies: List[CoordinationReply] = []
        answered = 0
        try:
            while pending and not (gather != "all" and answered >= needed):
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for leg in sorted(done, key=lambda leg: order[legs[leg].cid]):
                    reply = _leg_reply(legs[leg].target, leg.result())
                    replies.append(reply)
                    answered += reply.answered
                    if gather != "all" and answered >= needed:
                        break
        finally:
            for leg in pending:
                leg.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if gather != "all" and answered < needed:
            raise _short_of_quorum(answered, needed)
        return replies

    async def execute(self, to_layer: str, need: Optional[str], payload: Any, timeout: float = 30.0,
                      retries: int = 3, kind: "Kind | str" = Kind.CALL) -> Any:
        """A cross-layer call through the gateway (``Agent.execute``): the decoded answer or ``ParleyError``."""
        target = self._layer_target(to_layer, need)
        outcome = await self.request(kind, target, payload, timeout=timeout, retries=retries, via_gateway=True)
        return outcome.value()

    async def domain_to_infrastructure(self, context: Any, need: str, timeout: float = 30.0) -> Any:
        return await self.execute("infrastructure", need, context, timeout=timeout)

    async def application_to_domain(self, use_case: Any, expertise: str, timeout: float = 30.0) -> Any:
        return await self.execute("domain", expertise, use_case, timeout=timeout)

    # -- serving ----------------------------------------------------------------------------------------

    def serve(self, handler: AsyncHandler) -> AsyncHandler:
        """Serves requests with the coroutine function ``handler`` (usable as a decorator): it returns the
        answer, or raises ``Decline`` / ``Fail``; any other exception answers FAILED with its text. Each request
        runs as a task of the agent's loop, cancelled when the broker takes the request back."""
        self._handler = handler
        return handler

    def _serving(self) -> bool:
        return self._handler is not None

    def _new_request(self, header: wire.Deliver, body: bytes, session: int) -> RequestBase:
        return AsyncRequest(self, header, body, session)

    def _start_handler(self, request: RequestBase) -> None:
        loop = self._loop
        assert loop is not None and self._handler is not None and isinstance(request, AsyncRequest)
        coroutine = self._run_handler(self._handler, request)
        if loop.get_task_factory() is not None:
            task = loop.create_task(coroutine)
        elif sys.version_info >= (3, 12):  # runs at once until it first waits: a handler that never waits needs no turn
            task = asyncio.Task(coroutine, loop=loop, eager_start=True)
            if task.done():
                return
        else:  # what create_task does without a task factory
            task = asyncio.Task(coroutine, loop=loop)
        request._task = task
        self._tasks.add(task)

    async def _run_handler(self, handler: AsyncHandler, request: AsyncRequest) -> None:
        try:
            await self._handle(handler, request)
        finally:  # the task's strong reference goes when its coroutine ends (cheaper than a done callback)
            self._tasks.discard(request._task)

    async def _handle(self, handler: AsyncHandler, request: AsyncRequest) -> None:
        assert self._loop is not None
        self._handler_started(request)
        warning: Optional[asyncio.TimerHandle] = None
        if self.bus.handler_count(ev.DEADLINE_APPROACHING):
            warning = self._loop.call_later(max(0.0, request.timeout * self._deadline_warning), self._warn_deadline, request)
        try:
            status, body = Status.OK, _encode_payload(await handler(request))
        except Exception as error:  # not CancelledError: a revoked request gets no reply
            status, body = _failure_reply(request, error)
        finally:
            if warning is not None:
                warning.cancel()
        self._io.run_now(self._io.finish_delivery, request, status, body)

    # -- events -----------------------------------------------------------------------------------------

    async def publish(self, event: str, data: Any = None, *, content_type: str = "application/json",
                      timeout: Optional[float] = None) -> int:
        """Publishes ``event`` (``Agent.publish``) and returns its sequence once the broker CONFIRMs it."""
        publish = self._prepare_publish(event, data, content_type, timeout)
        self._bind()
        self._schedule(lambda io: io.publish(publish))
        confirm = await self._bridge(publish.future)
        return int(confirm.sequence)

    async def trigger(self, event: str, data: Any = None) -> TriggerReport:
        """Runs the local handlers for ``event``, then publishes it for other agents."""
        payload = _encode_payload(data)
        report = self.bus.dispatch(ev.EventContext(event, self.id, payload))
        return TriggerReport(report, await self.publish(event, payload))

    def subscribe(self, agent: str, events: Optional[Sequence[str]] = None,
                  start: Optional[int] = None) -> AsyncSubscription:
        """``agent``'s events as ``Agent.subscribe`` gives them: ``async for notice in agent.subscribe(...)``."""
        selectors = self._selectors(agent, events)
        self._bind()
        subscription = AsyncSubscription(selectors, start, lambda s: self._schedule(lambda io: io.unsubscribe(s)))
        self._schedule(lambda io: io.subscribe(subscription))
        return subscription

"""Game-style local event handlers: registration with priorities, once-handlers, a chain that passes a
value along and can stop, and failures isolated to the handler that failed.

The bus is pure Python and thread-safe: its lock is never held while a handler runs, so handlers may
register, remove or dispatch themselves. Handlers run on the thread that dispatches.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import wire

log = logging.getLogger("parley.events")

#: The events the SDK raises by itself.
TASK_START = "on_task_start"
TASK_COMPLETE = "on_task_complete"
ERROR = "on_error"
HELP_NEEDED = "on_help_needed"
RESOURCE_LOW = "on_resource_low"
DEADLINE_APPROACHING = "on_deadline_approaching"
BUILT_IN = (TASK_START, TASK_COMPLETE, ERROR, HELP_NEEDED, RESOURCE_LOW, DEADLINE_APPROACHING)


class Stop:
    """Returned by a handler to end the chain; ``Stop(value)`` also sets the chain's value."""

    _NOTHING = object()

    def __init__(self, value: Any = _NOTHING) -> None:
        self.value = value

    @property
    def has_value(self) -> bool:
        return self.value is not Stop._NOTHING

    def __repr__(self) -> str:
        return "STOP" if not self.has_value else f"Stop({self.value!r})"


#: Return it from a handler to end the chain, keeping the value as it is.
STOP = Stop()


@dataclass
class EventContext:
    """One event as a handler sees it.

    ``value`` is what the previous handler of the chain passed on (None for the first one, and while no
    handler passed anything); ``data`` the payload bytes; ``sequence`` the broker's number, when the event
    came from the broker.
    """

    name: str
    source: str
    data: bytes = b"null"
    value: Any = None
    sequence: Optional[int] = None

    @property
    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.data) if self.data else None


class HandlerToken:
    """Names one registration; give it to ``off``. It is also callable as the handler itself, so that
    ``@agent.on("on_task_start")`` leaves a usable function behind."""

    __slots__ = ("event", "id", "handler", "priority", "once", "__weakref__")

    def __init__(self, event: str, id: int, handler: Callable[[EventContext], Any], priority: int, once: bool) -> None:
        self.event = event
        self.id = id
        self.handler = handler
        self.priority = priority
        self.once = once

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.handler(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<handler #{self.id} for {self.event}>"


@dataclass
class HandlerFailure:
    """A handler that raised. The chain went on without it."""

    event: str
    token: HandlerToken
    error: BaseException

    @property
    def reason(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass
class DispatchReport:
    """What one dispatch did."""

    handled: int = 0
    stopped: bool = False
    failures: List[HandlerFailure] = field(default_factory=list)
    value: Any = None
    unhandled: bool = False


class EventBus:
    """Handlers per event name, run as a chain: higher priority first, equal priorities in registration order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: Dict[str, List[HandlerToken]] = {}
        self._ids = itertools.count(1)
        self._failure_reporter: Optional[Callable[[HandlerFailure], None]] = None
        self.unhandled_count = 0

    def on(self, event: str, handler: Optional[Callable[[EventContext], Any]] = None, *, priority: int = 0,
           once: bool = False) -> Any:
        """Registers ``handler`` for ``event`` and returns its token; without ``handler``, a decorator.

        A handler gets an ``EventContext`` and returns None (go on, value unchanged), a value (go on with it
        as the chain's value), ``STOP`` or ``Stop(value)`` (end the chain). An exception counts as a failure of
        that handler only. A once-handler is removed just before it first runs.
        """
        if wire.event_problem(event):
            raise ValueError(wire.event_problem(event))
        if handler is None:
            return lambda function: self.on(event, function, priority=priority, once=once)
        if not callable(handler):
            raise TypeError("handler must be callable")
        with self._lock:
            token = HandlerToken(event, next(self._ids), handler, priority, once)
            chain = self._handlers.setdefault(event, [])
            index = next((i for i, other in enumerate(chain) if other.priority < priority), len(chain))
            chain.insert(index, token)
        return token

    def off(self, token: HandlerToken) -> bool:
        """Removes a handler; False when it was not (or no longer) registered."""
        with self._lock:
            chain = self._handlers.get(token.event, [])
            if token not in chain:
                return False
            chain.remove(token)
            if not chain:
                del self._handlers[token.event]
            return True

    def handler_count(self, event: str) -> int:
        chain = self._handlers.get(event)  # no lock: one read of a dict and of a list's length (asked per request)
        return len(chain) if chain else 0

    def on_failure(self, reporter: Optional[Callable[[HandlerFailure], None]]) -> None:
        """Called after a dispatch for each failure of an event other than ``on_error`` (no loops)."""
        self._failure_reporter = reporter

    def _claim(self, token: HandlerToken) -> bool:
        with self._lock:
            chain = self._handlers.get(token.event, [])
            if token not in chain:
                return False
            if token.once:
                chain.remove(token)
                if not chain:
                    del self._handlers[token.event]
            return True

    def dispatch(self, context: EventContext) -> DispatchReport:
        """Runs the chain for ``context.name`` (the handlers registered when it starts) and reports."""
        with self._lock:
            chain = list(self._handlers.get(context.name, []))
        report = DispatchReport(value=context.value)
        started = 0
        for token in chain:
            if not self._claim(token):
                continue
            started += 1
            event = EventContext(context.name, context.source, context.data, report.value, context.sequence)
            try:
                result = token.handler(event)
            except Exception as error:  # isolate: the chain goes on
                log.warning("%r failed: %s: %s", token, type(error).__name__, error)
                report.failures.append(HandlerFailure(context.name, token, error))
                continue
            report.handled += 1
            if isinstance(result, Stop):
                if result.has_value:
                    report.value = result.value
                report.stopped = True
                break
            if result is not None:
                report.value = result
        if started == 0:
            report.unhandled = True
            with self._lock:
                self.unhandled_count += 1
        reporter = self._failure_reporter
        if reporter is not None and context.name != ERROR:
            for failure in report.failures:
                try:
                    reporter(failure)
                except Exception:  # a reporter must not break dispatch
                    log.exception("failure reporter raised")
        return report

"""Parley for Python: a client of the Parley callback broker (docs/PROTOCOL.md), over pyzmq.

>>> from parley import Agent
>>> with Agent("py-helper", "domain", ["math"]) as agent:          # doctest: +SKIP
...     agent.request_help("cap:math", {"question": "6*7?"})
"""

from . import compat
from .aio import AsyncAgent, AsyncRequest, AsyncSubscription
from .agent import (DEFAULT_BROKER, DEFAULT_EVENTS, DEFAULT_GATEWAY, Agent, CoordinationReply, CurveKeys, Gather, Outcome,
                    Request, TriggerReport)
from .errors import Decline, Fail, ParleyError
from .events import (DEADLINE_APPROACHING, ERROR, HELP_NEEDED, RESOURCE_LOW, STOP, TASK_COMPLETE, TASK_START,
                     DispatchReport, EventBus, EventContext, HandlerFailure, HandlerToken, Stop)
from .subscription import Event, Gap, Subscription
from .wire import Command, DecodeError, Kind, Status

__version__ = "0.1.0"

__all__ = [
    "compat",
    "Agent", "AsyncAgent", "AsyncRequest", "AsyncSubscription", "CoordinationReply", "Gather", "CurveKeys", "Outcome", "Request", "TriggerReport", "DEFAULT_BROKER", "DEFAULT_EVENTS", "DEFAULT_GATEWAY",
    "ParleyError", "Decline", "Fail",
    "EventBus", "EventContext", "HandlerToken", "HandlerFailure", "DispatchReport", "Stop", "STOP",
    "TASK_START", "TASK_COMPLETE", "ERROR", "HELP_NEEDED", "RESOURCE_LOW", "DEADLINE_APPROACHING",
    "Event", "Gap", "Subscription",
    "Command", "Status", "Kind", "DecodeError",
]

"""The original specification's API on Parley: ``CallbackCommunicationSystem``, ``CrossLayerCallbackProtocol``
and ``GameStyleEventHandlers`` with the specification's names and signatures, backed by a real broker and
gateway through ``AsyncAgent``.

>>> async def main():                                                    # doctest: +SKIP
...     event_bus = AgentEventBus()          # the broker and gateway of `make run`
...     system = CallbackCommunicationSystem(event_bus)
...     await system.register_callback_handler("math-helper", MathHelper())
...     response = await system.request_help("planner", "math-helper", {"multiply": [6, 7]})

What the specification leaves open, and how it is settled here:

* ``AgentEventBus`` holds one ``AsyncAgent`` per agent id it speaks for, made and connected on first use (in
  ``layer``, default ``domain``). ``subscribe("callback.<agent>", handler)`` makes that agent serve requests
  with ``handler``; ``publish_agent_event(event)`` sends the event as a request from the event's
  ``from_agent`` to ``agent:<to_agent>`` (kind ``help`` for ``help_request``, ``clarification`` for
  ``clarification_request``, ``coordinate`` for ``coordination_request``, ``call`` otherwise).
* ``request_help`` returns a ``HelpResponse`` whose ``response`` is what the handler returned; a request that
  ends without an answer raises ``ParleyError`` (DECLINED when the handler raised ``Decline``, FAILED with the
  reason when it raised anything else, TIMEOUT, NO_ROUTE …). ``timeout`` is the request's deadline.
* ``CrossLayerCallbackProtocol`` calls through the gateway, which checks the layer policy: the caller is an
  agent of the callback's ``source_layer``, the callee any agent of ``target_layer`` serving the need
  (``serve_layer``). ``execute_with_retry`` gives each attempt ``timeout`` seconds and retries up to
  ``max_retries`` times (so at most 4 attempts) after TIMEOUT, UNAVAILABLE, OVERLOADED, NO_ROUTE and FAILED,
  with exponential backoff; DECLINED, UNAUTHORIZED and BAD_REQUEST are final.
* ``GameStyleEventHandlers`` runs its handlers locally exactly as the specification does (unknown event types
  are ignored; exceptions are returned, not raised; plain functions are accepted next to coroutines). Given an
  ``AsyncAgent`` it also publishes each triggered event through the broker, and ``follow(agent_id)`` runs the
  local handlers for another agent's events.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import uuid
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Awaitable, Callable, Dict, List, Optional, Protocol, Sequence, Set, Type, TypeVar, Union

from .agent import DEFAULT_BROKER, DEFAULT_EVENTS, DEFAULT_GATEWAY, CurveKeys
from .aio import AsyncAgent, AsyncRequest, AsyncSubscription
from .errors import ParleyError
from .events import BUILT_IN
from .subscription import Event
from .wire import Kind, Status

__all__ = [
    "AgentEventBus", "CallbackEvent", "CallbackRequest", "HelpRequest", "HelpResponse", "CallbackHandler",
    "CallbackCommunicationSystem", "LayerCallback", "InfrastructureCallback", "DomainCallback",
    "LayerCallbackHandler", "CrossLayerCallbackProtocol", "GameStyleEventHandlers", "RETRYABLE",
]

T = TypeVar("T")


# ------------------------------------------------------------------------------------------------------
# The data of the callback system


@dataclass
class CallbackEvent:
    """What travels between agents: ``type`` (``help_request`` …), the callback id, and a JSON payload."""

    type: str
    callback_id: str
    payload: Dict[str, Any]

    def to_dict(self) -> Dict[str, Any]:
        return {"type": self.type, "callback_id": self.callback_id, "payload": self.payload}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "CallbackEvent":
        return cls(str(data["type"]), str(data["callback_id"]), dict(data.get("payload") or {}))


@dataclass
class HelpRequest:
    """An agent's request for help: who asks whom about which problem, and when."""

    callback_id: str
    from_agent: str
    to_agent: str
    problem: Dict[str, Any]
    timestamp: datetime = field(default_factory=datetime.now)

    def to_dict(self) -> Dict[str, Any]:
        return {"callback_id": self.callback_id, "from_agent": self.from_agent, "to_agent": self.to_agent,
                "problem": self.problem, "timestamp": self.timestamp.isoformat()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "HelpRequest":
        return cls(str(data["callback_id"]), str(data["from_agent"]), str(data["to_agent"]), data.get("problem") or {},
                   _parse_time(data.get("timestamp")))


CallbackRequest = HelpRequest


@dataclass
class HelpResponse:
    """The answer to a ``HelpRequest``: ``response`` is what the helper's handler returned."""

    callback_id: str
    from_agent: str  # the helper
    to_agent: str  # the agent that asked
    response: Any
    timestamp: datetime = field(default_factory=datetime.now)

    def to_dict(self) -> Dict[str, Any]:
        return {"callback_id": self.callback_id, "from_agent": self.from_agent, "to_agent": self.to_agent,
                "response": self.response, "timestamp": self.timestamp.isoformat()}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "HelpResponse":
        return cls(str(data["callback_id"]), str(data["from_agent"]), str(data["to_agent"]), data.get("response"),
                   _parse_time(data.get("timestamp")))


def _parse_time(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else datetime.now()


class CallbackHandler(Protocol):
    """An agent's callback handler: ``handle_callback`` gets the ``CallbackEvent`` and returns the answer (any
    JSON value, or a ``HelpResponse``); raising ``parley.Decline`` declines, any other exception fails."""

    def handle_callback(self, event: CallbackEvent) -> Awaitable[Any]: ...


_KINDS = {"help_request": Kind.HELP, "clarification_request": Kind.CLARIFICATION,
          "coordination_request": Kind.COORDINATE}


class AgentEventBus:
    """Parley as the specification's event bus: one ``AsyncAgent`` per agent id it speaks for, all on the broker
    at ``broker``/``events`` (and the gateway at ``gateway`` for cross-layer callbacks). ``close()`` ends them."""

    def __init__(self, broker: str = DEFAULT_BROKER, events: str = DEFAULT_EVENTS, gateway: str = DEFAULT_GATEWAY, *,
                 layer: str = "domain", curve: Optional[CurveKeys] = None, connect_timeout: float = 10.0) -> None:
        self.broker = broker
        self.events = events
        self.gateway = gateway
        self.layer = layer
        self.curve = curve
        self.connect_timeout = connect_timeout
        self.agents: Dict[str, AsyncAgent] = {}
        self._connecting: Dict[str, "asyncio.Future[AsyncAgent]"] = {}

    async def agent(self, agent_id: str, layer: Optional[str] = None, capabilities: Sequence[str] = (),
                    serve: Optional[Callable[[AsyncRequest], Awaitable[Any]]] = None) -> AsyncAgent:
        """The connected agent ``agent_id`` (made in ``layer`` on first use; later calls return it as it is)."""
        made = self.agents.get(agent_id)
        if made is None:
            made = AsyncAgent(agent_id, layer or self.layer, capabilities, self.broker, self.events, self.gateway,
                              curve=self.curve, connect_timeout=self.connect_timeout)
            self.agents[agent_id] = made
            if serve is not None:
                made.serve(serve)
            connected: "asyncio.Future[AsyncAgent]" = asyncio.ensure_future(made.connect())
            self._connecting[agent_id] = connected
            try:
                await connected
            except BaseException:
                self.agents.pop(agent_id, None)
                await made.close()
                raise
            finally:
                self._connecting.pop(agent_id, None)
            return made
        if serve is not None:
            made.serve(serve)
        pending = self._connecting.get(agent_id)
        if pending is not None:
            await asyncio.shield(pending)
        return made

    async def subscribe(self, topic: str, handler: Callable[[CallbackEvent], Awaitable[Any]]) -> None:
        """``callback.<agent_id>``: the agent ``agent_id`` answers the requests sent to it with ``handler``."""
        parts = topic.split(".")
        if len(parts) != 2 or parts[0] != "callback":
            raise ValueError(f"subscribe takes callback.<agent_id>, not {topic!r}")
        agent_id = parts[1]

        async def answer(request: AsyncRequest) -> Any:
            body = request.json
            event = CallbackEvent.from_dict(body) if isinstance(body, dict) and "type" in body else \
                CallbackEvent(f"{request.kind}_request", request.callback_id, {"problem": body})
            result = await handler(event)
            if isinstance(result, HelpResponse):
                return result.to_dict()
            return HelpResponse(event.callback_id, agent_id, request.requester, result).to_dict()

        await self.agent(agent_id, serve=answer)

    async def publish_agent_event(self, event: CallbackEvent, callback: Optional[Callable[[Any], Any]] = None,
                                  timeout: float = 30.0) -> Any:
        """Sends ``event`` from ``payload["from_agent"]`` to ``agent:<payload["to_agent"]>`` and returns the answer,
        passed through ``callback`` when given; ``ParleyError`` when none came."""
        sender, receiver = str(event.payload["from_agent"]), str(event.payload["to_agent"])
        agent = await self.agent(sender)
        kind = _KINDS.get(event.type, Kind.CALL)
        answer = (await agent.request(kind, f"agent:{receiver}", event.to_dict(), timeout=timeout)).value()
        if callback is None:
            return answer
        result = callback(answer)
        return await result if inspect.isawaitable(result) else result

    async def close(self) -> None:
        """Closes every agent of the bus."""
        agents, self.agents = list(self.agents.values()), {}
        for agent in agents:
            await agent.close()

    async def __aenter__(self) -> "AgentEventBus":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class CallbackCommunicationSystem:
    """Manages callback-based communication between agents"""

    def __init__(self, event_bus: AgentEventBus):
        self.event_bus = event_bus
        self.pending_callbacks: Dict[str, CallbackRequest] = {}
        self.callback_handlers: Dict[str, CallbackHandler] = {}

    async def register_callback_handler(self,
                                        agent_id: str,
                                        handler: CallbackHandler) -> None:
        """Register agent's callback handler"""
        self.callback_handlers[agent_id] = handler

        # Subscribe to callback events for this agent
        await self.event_bus.subscribe(
            f"callback.{agent_id}",
            handler.handle_callback
        )

    async def request_help(self,
                           from_agent: str,
                           to_agent: str,
                           problem: Dict[str, Any],
                           timeout: int = 30) -> HelpResponse:
        """Agent requests help from another agent"""
        callback_id = str(uuid.uuid4())

        request = HelpRequest(
            callback_id=callback_id,
            from_agent=from_agent,
            to_agent=to_agent,
            problem=problem,
            timestamp=datetime.now()
        )

        self.pending_callbacks[callback_id] = request
        try:
            # Publish help request event
            help_event = CallbackEvent(
                type="help_request",
                callback_id=callback_id,
                payload=request.to_dict()
            )

            response = await self.event_bus.publish_agent_event(
                help_event,
                callback=self._handle_help_response,
                timeout=timeout
            )

            return HelpResponse.from_dict(response)
        finally:
            self.pending_callbacks.pop(callback_id, None)

    def _handle_help_response(self, response: Any) -> Dict[str, Any]:
        if not isinstance(response, dict) or "callback_id" not in response:
            raise ParleyError(Status.FAILED, f"the helper's answer is not a help response: {response!r}")
        return response


# ------------------------------------------------------------------------------------------------------
# Cross-layer callbacks


@dataclass
class LayerCallback:
    """A callback from ``source_layer`` to ``target_layer``; subclasses say what is needed."""

    source_layer: str
    target_layer: str

    @property
    def need(self) -> Optional[str]:
        """The capability the target layer is asked for (``layer:<target>/<need>``); None: any agent of it."""
        return None

    def to_dict(self) -> Dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["callback"] = type(self).__name__
        return data

    @staticmethod
    def from_dict(data: Dict[str, Any]) -> "LayerCallback":
        kinds: Dict[str, Type[LayerCallback]] = {"InfrastructureCallback": InfrastructureCallback,
                                                 "DomainCallback": DomainCallback, "LayerCallback": LayerCallback}
        kind = kinds.get(str(data.get("callback")), LayerCallback)
        return kind(**{f.name: data[f.name] for f in fields(kind) if f.name in data})


@dataclass
class InfrastructureCallback(LayerCallback):
    """The domain asks the infrastructure for ``request`` (a port: ``persistence``, ``mail`` …)."""

    context: Dict[str, Any] = field(default_factory=dict)
    request: str = ""

    @property
    def need(self) -> Optional[str]:
        return self.request or None


@dataclass
class DomainCallback(LayerCallback):
    """The application asks the domain for ``expertise_needed`` on ``use_case``."""

    use_case: str = ""
    expertise_needed: str = ""

    @property
    def need(self) -> Optional[str]:
        return self.expertise_needed or None


class LayerCallbackHandler(Protocol):
    """Handles cross-layer callbacks: the caller's side (``get_layer_handler``) and the served side (``serve_layer``)."""

    def handle_callback(self, callback: LayerCallback) -> Awaitable[Any]: ...


RETRYABLE = frozenset({Status.TIMEOUT, Status.UNAVAILABLE, Status.OVERLOADED, Status.NO_ROUTE, Status.FAILED})
"""The outcomes ``execute_with_retry`` tries again after; the others (DECLINED, UNAUTHORIZED, BAD_REQUEST …) are final."""


class _GatewayLayerHandler:
    """The caller's side: sends the callback through the gateway as an agent of its source layer."""

    def __init__(self, protocol: "CrossLayerCallbackProtocol", target_layer: str) -> None:
        self.protocol = protocol
        self.target_layer = target_layer

    async def handle_callback(self, callback: LayerCallback) -> Any:
        agent = await self.protocol.event_bus.agent(f"{self.protocol.agent_id}-{callback.source_layer}",
                                                    callback.source_layer)
        return await agent.execute(self.target_layer, callback.need, callback.to_dict(),
                                   timeout=self.protocol.timeout, retries=0)


class CrossLayerCallbackProtocol:
    """Enables callbacks across architectural boundaries"""

    def __init__(self, event_bus: Optional[AgentEventBus] = None, *, agent_id: str = "cross-layer",
                 timeout: float = 30, max_retries: int = 3, base_backoff: float = 0.1) -> None:
        self.event_bus = event_bus if event_bus is not None else AgentEventBus()
        self.agent_id = agent_id
        self.timeout = timeout
        self.max_retries = max_retries
        self.base_backoff = base_backoff

    async def domain_to_infrastructure_callback(self,
                                                domain_context: Dict[str, Any],
                                                infrastructure_need: str) -> Any:
        """Domain layer requests infrastructure assistance"""
        callback = InfrastructureCallback(
            source_layer="domain",
            target_layer="infrastructure",
            context=domain_context,
            request=infrastructure_need
        )

        return await self.execute_cross_layer_callback(callback)

    async def application_to_domain_callback(self,
                                             use_case: str,
                                             domain_expertise: str) -> Any:
        """Application layer requests domain expertise"""
        callback = DomainCallback(
            source_layer="application",
            target_layer="domain",
            use_case=use_case,
            expertise_needed=domain_expertise
        )

        return await self.execute_cross_layer_callback(callback)

    async def execute_cross_layer_callback(self,
                                           callback: LayerCallback) -> Any:
        """Execute callback across architectural layers"""
        # Route to appropriate layer handler
        handler = self.get_layer_handler(callback.target_layer)

        # Execute with timeout and retry
        result = await self.execute_with_retry(
            handler.handle_callback,
            callback,
            max_retries=self.max_retries,
            timeout=self.timeout
        )

        return result

    def get_layer_handler(self, target_layer: str) -> LayerCallbackHandler:
        """The handler that takes callbacks to ``target_layer``: through the gateway, which checks the policy."""
        return _GatewayLayerHandler(self, target_layer)

    async def execute_with_retry(self, function: Callable[..., Awaitable[T]], *args: Any, max_retries: int = 3,
                                 timeout: float = 30) -> T:
        """``function(*args)`` within ``timeout`` seconds, tried again up to ``max_retries`` times after a
        retryable outcome (``RETRYABLE``, or no answer in time) with exponential backoff and full jitter.
        Raises the last ``ParleyError`` (its ``attempts`` is the number of attempts made)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await asyncio.wait_for(function(*args), timeout)
            except asyncio.TimeoutError:
                error = ParleyError(Status.TIMEOUT, f"no answer within {timeout} s", attempt)
            except ParleyError as failure:
                error = ParleyError(failure.status, failure.reason, attempt)
            if error.status not in RETRYABLE or attempt > max_retries:
                raise error
            await asyncio.sleep(random.uniform(0, self.base_backoff * 2 ** (attempt - 1)))

    async def serve_layer(self, layer: str, needs: Union[str, Sequence[str]], handler: LayerCallbackHandler,
                          agent_id: Optional[str] = None) -> AsyncAgent:
        """Serves the cross-layer callbacks to ``layer`` for ``needs`` (capabilities) with ``handler``: an agent
        of ``layer`` (id ``agent_id``, default ``<layer>-<first need>``) on the event bus's broker."""
        capabilities = [needs] if isinstance(needs, str) else list(needs)

        async def answer(request: AsyncRequest) -> Any:
            body = request.json
            callback = LayerCallback.from_dict(body) if isinstance(body, dict) else \
                LayerCallback(request.requester_layer, layer)
            return await handler.handle_callback(callback)

        name = agent_id or f"{layer}-{capabilities[0] if capabilities else 'handler'}"
        return await self.event_bus.agent(name, layer, capabilities, serve=answer)


# ------------------------------------------------------------------------------------------------------
# Game-style event handlers


EventHandler = Callable[[Dict[str, Any]], Any]


async def _run_handler(handler: EventHandler, data: Dict[str, Any]) -> Any:
    result = handler(data)
    return await result if inspect.isawaitable(result) else result


class GameStyleEventHandlers:
    """Video game-inspired event handling for agents"""

    def __init__(self, agent: Optional[AsyncAgent] = None) -> None:
        self.agent = agent
        self.event_handlers: Dict[str, List[EventHandler]] = {
            "on_task_start": [],
            "on_task_complete": [],
            "on_error": [],
            "on_help_needed": [],
            "on_resource_low": [],
            "on_deadline_approaching": []
        }
        self._following: Set["asyncio.Task[None]"] = set()
        self._subscriptions: List[AsyncSubscription] = []

    def register_handler(self, event_type: str, handler: Callable[..., Any]) -> None:
        """Register event handler (like game event systems)"""
        if event_type in self.event_handlers:
            self.event_handlers[event_type].append(handler)

    async def trigger_event(self, event_type: str, data: Dict[str, Any]) -> Optional[List[Any]]:
        """Trigger event and execute all handlers; with an agent, also publish it through the broker."""
        results = await self._run_local(event_type, data)
        if results is not None and self.agent is not None:
            await self.agent.publish(event_type, data)
        return results

    async def _run_local(self, event_type: str, data: Dict[str, Any]) -> Optional[List[Any]]:
        if event_type in self.event_handlers:
            tasks = [
                _run_handler(handler, data)
                for handler in self.event_handlers[event_type]
            ]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            return results
        return None

    async def follow(self, agent_id: str, start: Optional[int] = None) -> None:
        """Runs the local handlers for ``agent_id``'s events (the six above) as they arrive through the broker."""
        if self.agent is None:
            raise ValueError("follow needs an agent: GameStyleEventHandlers(agent)")
        subscription = self.agent.subscribe(agent_id, list(BUILT_IN), start)
        self._subscriptions.append(subscription)

        async def pump() -> None:
            async for notice in subscription:
                if isinstance(notice, Event):
                    data = notice.json
                    await self._run_local(notice.name, data if isinstance(data, dict) else {"data": data})

        task = asyncio.ensure_future(pump())
        self._following.add(task)
        task.add_done_callback(self._following.discard)

    def close(self) -> None:
        """Stops following."""
        for subscription in self._subscriptions:
            subscription.close()
        self._subscriptions.clear()

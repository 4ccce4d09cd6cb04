import asyncio
import sys

from parley.compat import (AgentEventBus, CallbackCommunicationSystem, CrossLayerCallbackProtocol,
                           GameStyleEventHandlers)


class MathHelper:                                       # the specification's CallbackHandler
    async def handle_callback(self, event):
        numbers = event.payload["problem"]["multiply"]
        return {"product": numbers[0] * numbers[1]}


class Persistence:                                      # serves layer:infrastructure/persistence
    async def handle_callback(self, callback):
        return {"saved": callback.context["order"], "asked by": callback.source_layer}


async def main():
    event_bus = AgentEventBus(*sys.argv[1:4])           # default: make run's broker and gateway
    system = CallbackCommunicationSystem(event_bus)
    await system.register_callback_handler("math-helper", MathHelper())
    response = await system.request_help("planner", "math-helper", {"multiply": [6, 7]}, timeout=5)
    print(response.response)                            # {'product': 42}

    protocol = CrossLayerCallbackProtocol(event_bus)    # through the gateway: the policy applies
    await protocol.serve_layer("infrastructure", "persistence", Persistence())
    print(await protocol.domain_to_infrastructure_callback({"order": 17}, "persistence"))

    handlers = GameStyleEventHandlers()

    async def on_start(data):
        return f"started {data['task']}"

    async def out_of_gpus(data):
        raise RuntimeError("no GPU left")

    handlers.register_handler("on_task_start", on_start)
    handlers.register_handler("on_task_start", out_of_gpus)
    print(await handlers.trigger_event("on_task_start", {"task": "6*7"}))
    await event_bus.close()

asyncio.run(main())

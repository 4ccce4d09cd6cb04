"""A Parley agent in Python: serves cap:math, asks for help through the broker, raises an event."""
import sys
from parley import Agent, Decline

endpoints = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
agent = Agent("py-helper", "domain", ["math"], *(endpoints or ["tcp://127.0.0.1:7410", "tcp://127.0.0.1:7411"]))

@agent.serve                                      # requests to agent:py-helper or cap:math
def multiply(request):
    numbers = (request.json or {}).get("multiply")
    if not numbers:
        raise Decline('I only multiply: send {"multiply": [6, 7]}')
    product = 1
    for number in numbers:
        product *= number
    return {"product": product, "for": request.requester}

with agent.connect():
    print(agent.request_help("cap:math", {"multiply": [6, 7]}))   # {'product': 42, 'for': 'py-helper'}
    print("published event #%d" % agent.trigger("on_task_complete", {"task": "6*7"}).sequence)
    if "--serve" in sys.argv:
        input("serving cap:math; press Enter to stop\n")

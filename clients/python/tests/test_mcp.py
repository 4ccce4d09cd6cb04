"""`parley mcp` serving a Python agent's request: the MCP side speaks newline-delimited JSON-RPC over the process's
stdin and stdout (the MCP stdio transport), as an LLM host does; the requester is this package's Agent."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from typing import Any, Dict, Tuple

from conftest import executable


class StdioMCPClient:
    """A minimal MCP client: initialize, then tools/call; one JSON-RPC message per line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen([executable("parley"), "mcp", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True, bufsize=1)
        self.lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.next_id = 0
        info = self.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                           "clientInfo": {"name": "pytest", "version": "1"}})
        assert info["serverInfo"]["name"] == "parley", info
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def send(self, message: Dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def request(self, method: str, params: Dict[str, Any], timeout: float = 30.0) -> Dict[str, Any]:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        while True:
            message = json.loads(self.lines.get(timeout=timeout))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    def tool(self, name: str, **arguments: Any) -> Tuple[str, bool]:
        result = self.request("tools/call", {"name": name, "arguments": arguments})
        return "\n".join(item["text"] for item in result["content"] if item["type"] == "text"), bool(result.get("isError"))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def test_a_python_agents_request_is_served_through_next_request_and_reply(broker, agents):
    mcp = StdioMCPClient("--broker", broker.endpoint, "--events", broker.events, "--id", "llm", "--cap", "reasoning")
    try:
        asker = agents("py-asker", "domain", (), broker=broker.endpoint, events=broker.events).connect()
        outcomes: "queue.Queue[Any]" = queue.Queue()
        threading.Thread(target=lambda: outcomes.put(asker.request("clarification", "cap:reasoning", {"q": "why"},
                                                                   timeout=20, retries=0)), daemon=True).start()
        taken, is_error = mcp.tool("next_request", wait_seconds=10)
        assert not is_error and "requester: py-asker (layer domain)" in taken and '{"q":"why"}' in taken, taken
        request_id = next(line.split(": ", 1)[1] for line in taken.splitlines() if line.startswith("request_id: "))
        assert mcp.tool("reply", request_id=request_id, answer={"because": 42}) == ("done", False)
        outcome = outcomes.get(timeout=20)
        assert outcome.value() == {"because": 42}
        answer, is_error = mcp.tool("request_help", to="nobody", problem="hi")
        assert is_error and answer.startswith("NO_ROUTE: ") and "py-asker (layer domain)" in answer, answer
    finally:
        mcp.close()

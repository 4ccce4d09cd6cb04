import MCP

/// The tools `parley mcp` offers an LLM host: their names, the JSON schemas of their arguments, and descriptions
/// written for a model to read. ParleyMCPTests pins the list, so that a change to it is deliberate.
public enum ParleyToolCatalog {
    /// Every tool, in the order a host lists them.
    public static let tools: [Tool] = [
        tool("request_help", """
            Ask another agent on the Parley network for help and wait for its answer. `to` is an agent id \
            (`pricing`), `agent:<id>`, or `cap:<capability>` for any agent offering that capability. The answer \
            comes back as text (usually JSON). Statuses other than OK come back as an error naming the status: \
            NO_ROUTE (no such agent or capability: the message lists the ones that exist), TIMEOUT, DECLINED, \
            FAILED, UNAUTHORIZED (another layer: use call_layer), OVERLOADED (retry later), UNAVAILABLE.
            """,
             properties: ["to": target, "problem": payload("The problem, as text or a JSON value."), "timeout_seconds": timeout],
             required: ["to", "problem"]),
        tool("request_clarification", """
            Ask another agent to clarify something and wait for its answer; like request_help, with the request \
            kind `clarification`.
            """,
             properties: ["to": target, "question": payload("The question, as text or a JSON value."), "timeout_seconds": timeout],
             required: ["to", "question"]),
        tool("coordinate", """
            Send the same task to several agents at once and gather their replies: `all` of them, the `first` OK \
            one, or a `quorum` of `quorum_size` OK ones (at most the number of targets). Each reply says its \
            target, status and answer; the result is an error when no target answered OK (or fewer than the \
            quorum).
            """,
             properties: [
                "targets": .object(["type": "array", "items": target, "minItems": 1, "maxItems": .int(maxCoordinationTargets),
                                    "description": "Agent ids, agent:<id> or cap:<capability> targets."]),
                "task": payload("The task, as text or a JSON value."),
                "gather": .object(["type": "string", "enum": ["all", "first", "quorum"], "default": "all"]),
                "quorum_size": .object(["type": "integer", "minimum": 1, "description": "How many OK replies `quorum` needs."]),
                "timeout_seconds": timeout,
             ],
             required: ["targets", "task"]),
        tool("call_layer", """
            Call another Clean Architecture layer through the Parley gateway, which checks the layer policy and \
            audits the call. `layer` is presentation, application, domain or infrastructure; `need` the capability \
            wanted there (optional). A call the policy forbids comes back as an UNAUTHORIZED error naming the rule.
            """,
             properties: ["layer": .object(["type": "string", "description": "The layer to call."]),
                          "need": .object(["type": "string", "description": "The capability wanted in that layer."]),
                          "context": payload("What the call needs, as text or a JSON value."), "timeout_seconds": timeout],
             required: ["layer", "context"]),
        tool("publish_event", """
            Publish an event on this agent's topic callback.<this agent>.<event> (for example on_task_complete). \
            Returns the sequence number the broker gave it.
            """,
             properties: ["event": .object(["type": "string", "description": "The event name: letters, digits, _ and -."]),
                          "data": payload("The event's data, as text or a JSON value.")],
             required: ["event"]),
        tool("recent_events", """
            The events an agent raised that the broker still retains, oldest first: each with its topic, sequence \
            number, time and data. `event` narrows it to one event name; `from_sequence` starts there (1 by \
            default). Events the broker no longer retains are reported as a GAP line.
            """,
             properties: ["agent": .object(["type": "string", "description": "The agent whose events to read."]),
                          "event": .object(["type": "string", "description": "One event name, such as on_error."]),
                          "from_sequence": .object(["type": "integer", "minimum": 1, "default": 1]),
                          "limit": .object(["type": "integer", "minimum": 1, "maximum": 500, "default": 50])],
             required: ["agent"]),
        tool("broker_status", """
            The broker's view of the network: the agents (id, layer, capabilities, alive or away), pending \
            requests and outcome counts, as JSON.
            """, properties: [:], required: []),
        tool("next_request", """
            Take the next request another agent sent to this agent, waiting up to `wait_seconds` for one. Returns \
            its request_id, kind, requester, payload and the seconds left before its deadline, or says that none \
            came. Answer it with reply (or report progress to get more time) before the deadline: past it the \
            requester gets TIMEOUT.
            """,
             properties: ["wait_seconds": .object(["type": "number", "minimum": 0, "maximum": 60, "default": 10])],
             required: []),
        tool("reply", """
            Answer a request taken with next_request. `status` is ok (answer is the answer), declined (not this \
            agent's business; answer is the reason) or failed (tried and failed; answer is the reason). A request \
            that ended meanwhile (its deadline passed, or the broker withdrew it) is refused, saying which.
            """,
             properties: ["request_id": .object(["type": "string"]),
                          "status": .object(["type": "string", "enum": ["ok", "declined", "failed"], "default": "ok"]),
                          "answer": payload("The answer or the reason, as text or a JSON value.")],
             required: ["request_id", "answer"]),
        tool("progress", """
            Tell the requester of a request taken with next_request that the work goes on, and ask for \
            `extend_seconds` more time from now. The broker never extends a request past its maximum deadline \
            (600 s after it received the request, by default): the result says when less was granted.
            """,
             properties: ["request_id": .object(["type": "string"]),
                          "note": .object(["type": "string", "description": "What is happening, for the requester."]),
                          "extend_seconds": .object(["type": "number", "minimum": 0, "maximum": 600, "default": 30])],
             required: ["request_id"]),
    ]

    private static let target: Value = .object(["type": "string", "description": "An agent id, agent:<id>, or cap:<capability>."])
    private static let timeout: Value = .object(["type": "number", "minimum": 0.1, "maximum": 600, "default": 30,
                                                 "description": "How long to wait for the answer, in seconds."])

    /// The most targets one coordinate call takes.
    static let maxCoordinationTargets = 32

    /// A schema accepting any JSON value (text is sent as a JSON string; null counts as absent).
    private static func payload(_ description: String) -> Value {
        .object(["description": .string(description + " null counts as absent.")])
    }

    private static func tool(_ name: String, _ description: String, properties: [String: Value], required: [String]) -> Tool {
        Tool(name: name, description: description,
             inputSchema: .object(["type": "object", "properties": .object(properties),
                                   "required": .array(required.map(Value.string)), "additionalProperties": false]))
    }
}

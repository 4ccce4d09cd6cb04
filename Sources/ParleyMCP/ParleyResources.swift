import MCP
import Parley

/// The MCP resources `parley mcp` offers beside its tools: the broker's status and this agent's own recent events,
/// read the same way as the `broker_status` and `recent_events` tools.
extension ParleyToolCalls {
    /// `parley://broker/status` and `parley://events/<this agent>`.
    public var resources: [Resource] {
        [Resource(name: "broker status", uri: "parley://broker/status",
                  description: "The broker's agents (id, layer, capabilities, alive or away), pending requests and outcome counts.",
                  mimeType: "application/json"),
         Resource(name: "own recent events", uri: ownEventsURI,
                  description: "The events this agent published that the broker still retains, oldest first, one per line.",
                  mimeType: "text/plain")]
    }

    /// The contents of resource `uri`; an unknown one is an MCP error, and so is a read that failed (saying why).
    public func read(_ uri: String) async throws -> [Resource.Content] {
        let (result, mimeType): (CallTool.Result, String)
        switch uri {
        case "parley://broker/status": (result, mimeType) = (try await call("broker_status", nil), "application/json")
        case ownEventsURI: (result, mimeType) = (try await call("recent_events", ["agent": .string(agent.configuration.id)]), "text/plain")
        default: throw MCPError.invalidParams("unknown resource \(uri); see resources/list")
        }
        let body = result.content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined(separator: "\n")
        if result.isError == true { throw MCPError.internalError("reading \(uri) failed: \(body)") }
        return [.text(body, uri: uri, mimeType: mimeType)]
    }

    private var ownEventsURI: String { "parley://events/\(agent.configuration.id)" }
}

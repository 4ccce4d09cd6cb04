import MCP
import Parley

/// The `coordinate` tool: one task to several agents, the replies gathered as the model asked.
extension ParleyToolCalls {
    /// Sends the task to every target, watching the broker as request_help does. Each reply is one line (target,
    /// status, answer) and counts by its status, whatever its body; the result is an error when too few were OK
    /// (under `all`: none).
    func coordinate(_ arguments: ToolArguments) async throws -> CallTool.Result {
        let targets = try arguments.targets("targets", maximum: ParleyToolCatalog.maxCoordinationTargets)
        let gather: Gather
        let needed: Int
        switch try arguments.optionalText("gather") ?? "all" {
        case "all": (gather, needed) = (.all, 1)
        case "first": (gather, needed) = (.first, 1)
        case "quorum":
            let size = try arguments.integer("quorum_size")
            guard size <= targets.count else {
                throw MCPError.invalidParams("coordinate: 'quorum_size' \(size) is more than the \(targets.count) target(s)")
            }
            (gather, needed) = (.quorum(size), size)
        case let other: throw MCPError.invalidParams("coordinate: 'gather' must be all, first or quorum, not '\(other)'")
        }
        let (body, timeout) = (try arguments.payload("task"), try arguments.timeout())
        guard let replies = try await broker.watching({
            await agent.coordinate(with: targets, body: body, gather: gather, timeout: timeout)
        }) else {
            return unavailable(broker)
        }
        let lines = replies.map { "\($0.target): \($0.outcome.status) \($0.outcome.text)" }.joined(separator: "\n")
        let answered = replies.filter { $0.outcome.status == .ok }.count
        guard answered >= needed else {
            return failure("FAILED: \(answered) OK answer(s) of the \(needed) needed\n" + lines)
        }
        return text(lines)
    }
}

import Foundation
import MCP
import Parley

/// Runs the tools of ``ParleyToolCatalog`` for one Parley agent: each call becomes a request, a publish, a STATUS
/// or an inbox action, and every outcome becomes a tool result a model can act on (OK: the answer; any other
/// status: an error result naming it and the reason). Bad arguments throw `MCPError.invalidParams`.
public struct ParleyToolCalls: Sendable {
    let agent: Agent
    let inbox: RequestInbox
    let brokerEndpoint: String
    let brokerCurve: CurveClientKeys?

    /// Tools acting as `agent`, serving through `inbox`; STATUS goes to `brokerEndpoint` (with `brokerCurve` under CURVE).
    public init(agent: Agent, inbox: RequestInbox, brokerEndpoint: String, brokerCurve: CurveClientKeys?) {
        self.agent = agent
        self.inbox = inbox
        self.brokerEndpoint = brokerEndpoint
        self.brokerCurve = brokerCurve
    }

    /// Runs tool `name` with `arguments`.
    public func call(_ name: String, _ arguments: [String: Value]?) async throws -> CallTool.Result {
        let arguments = ToolArguments(tool: name, values: arguments ?? [:])
        switch name {
        case "request_help":
            return try await ask(.help, to: arguments.target("to"), body: arguments.payload("problem"), arguments)
        case "request_clarification":
            return try await ask(.clarification, to: arguments.target("to"), body: arguments.payload("question"), arguments)
        case "coordinate":
            return try await coordinate(arguments)
        case "call_layer":
            let outcome = try await agent.sendAcrossLayers(.call, toLayer: arguments.name("layer"), need: arguments.optionalName("need"),
                                                           body: arguments.payload("context"), timeout: arguments.timeout(),
                                                           retries: 0)
            return await result(outcome)
        case "publish_event":
            let receipt = try await agent.publish(try arguments.name("event"), data: arguments.payload("data", default: .null))
            return text("published \(receipt.topic) #\(receipt.sequence)")
        case "broker_status":
            let snapshot = try await BrokerStatus.fetch(endpoint: brokerEndpoint, curve: brokerCurve)
            return text(String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self))
        case "next_request":
            return await nextRequest(waitingUpTo: try arguments.seconds("wait_seconds", default: 10, maximum: 60))
        case "reply":
            return answering(await inbox.reply(try arguments.name("request_id"), try arguments.response()))
        case "progress":
            return answering(await inbox.progress(try arguments.name("request_id"), note: arguments.optionalText("note") ?? "",
                                                  extendBy: try arguments.seconds("extend_seconds", default: 30, maximum: 600)))
        default:
            throw MCPError.invalidParams("unknown tool '\(name)'")
        }
    }

    private func ask(_ kind: RequestKind, to target: Target, body: [UInt8], _ arguments: ToolArguments) async throws -> CallTool.Result {
        await result(await agent.send(kind, to: target, body: body, timeout: try arguments.timeout()))
    }

    private func coordinate(_ arguments: ToolArguments) async throws -> CallTool.Result {
        let targets = try arguments.targets("targets")
        let gather: Gather
        switch arguments.optionalText("gather") ?? "all" {
        case "all": gather = .all
        case "first": gather = .first
        case "quorum": gather = .quorum(try arguments.integer("quorum_size"))
        case let other: throw MCPError.invalidParams("coordinate: gather must be all, first or quorum, not '\(other)'")
        }
        let task = try arguments.value("task")
        do {
            let replies = try await agent.coordinate(with: targets, task: task, gather: gather, timeout: try arguments.timeout(),
                                                     as: Value.self)
            let lines = replies.map { "\($0.target): \($0.outcome.status) \($0.outcome.text)" }
            return text(lines.joined(separator: "\n"))
        } catch ParleyError.outcome(let status, let reason) {
            return failure("\(status): \(reason)")
        }
    }

    private func nextRequest(waitingUpTo wait: Duration) async -> CallTool.Result {
        guard let taken = await inbox.next(waitingUpTo: wait) else {
            return text("no request arrived within \(wait.seconds) s; call next_request again to keep waiting")
        }
        let request = taken.request
        return text("""
            request_id: \(taken.id)
            kind: \(request.kind)
            requester: \(request.requester) (layer \(request.requesterLayer))
            attempt: \(request.attempt)
            seconds_left: \(taken.timeLeft.seconds)
            payload (\(request.contentType)): \(String(decoding: request.body, as: UTF8.self))
            Answer with reply(request_id: "\(taken.id)", …) before the deadline, or report progress for more time.
            """)
    }

    /// OK: the answer; any other status: an error result naming it, with the reason, and for NO_ROUTE the agents
    /// and capabilities that do exist.
    private func result(_ outcome: Outcome) async -> CallTool.Result {
        guard outcome.status != .ok else { return text(outcome.text) }
        var message = "\(outcome.status): \(outcome.text) (attempts: \(outcome.attempts))"
        if outcome.status == .noRoute, let snapshot = try? await BrokerStatus.fetch(endpoint: brokerEndpoint, curve: brokerCurve,
                                                                                     timeout: .seconds(1)) {
            let known = snapshot.agents.map { "\($0.id) (layer \($0.layer)\($0.capabilities.isEmpty ? "" : "; " + $0.capabilities.joined(separator: ", ")))" }
            message += known.isEmpty ? "\nNo agent is registered." : "\nRegistered agents: " + known.joined(separator: "; ")
        }
        return failure(message)
    }

    private func answering(_ answering: RequestInbox.Answering) -> CallTool.Result {
        switch answering {
        case .done: text("done")
        case .refused(let why): failure(why)
        }
    }

    private func text(_ text: String) -> CallTool.Result { .init(content: [.text(text: text, annotations: nil, _meta: nil)], isError: false) }
    private func failure(_ text: String) -> CallTool.Result { .init(content: [.text(text: text, annotations: nil, _meta: nil)], isError: true) }
}

extension Duration {
    /// Whole and fractional seconds, for the model to read.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

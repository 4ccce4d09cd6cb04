import Foundation
import MCP
import Parley

/// Runs the tools of ``ParleyToolCatalog`` for one Parley agent: each call becomes a request, a publish, a STATUS
/// or an inbox action, and every outcome becomes a tool result a model can act on (OK: the answer; any other
/// status: an error result naming it and the reason). Bad arguments throw `MCPError.invalidParams`; so does a
/// `ParleyError.invalidConfiguration`, while any other `ParleyError` becomes an error result saying what failed.
public struct ParleyToolCalls: Sendable {
    let agent: Agent
    let inbox: RequestInbox
    /// The servers the agent's calls go through, probed while a call waits.
    let broker: LivenessProbe
    let gateway: LivenessProbe

    /// Tools acting as `agent`, serving through `inbox`.
    public init(agent: Agent, inbox: RequestInbox) {
        self.agent = agent
        self.inbox = inbox
        self.broker = .broker(of: agent.configuration)
        self.gateway = .gateway(of: agent.configuration)
    }

    /// Runs tool `name` with `arguments`.
    public func call(_ name: String, _ arguments: [String: Value]?) async throws -> CallTool.Result {
        do {
            return try await run(name, ToolArguments(tool: name, values: arguments ?? [:]))
        } catch ParleyError.invalidConfiguration(let problem) {
            throw MCPError.invalidParams("\(name): \(problem)")
        } catch let error as ParleyError {
            return failure("\(name) failed: \(error)")
        }
    }

    private func run(_ name: String, _ arguments: ToolArguments) async throws -> CallTool.Result {
        switch name {
        case "request_help":
            return try await ask(.help, to: arguments.target("to"), body: arguments.payload("problem"), arguments)
        case "request_clarification":
            return try await ask(.clarification, to: arguments.target("to"), body: arguments.payload("question"), arguments)
        case "coordinate":
            return try await coordinate(arguments)
        case "call_layer":
            return try await callLayer(arguments)
        case "publish_event":
            let receipt = try await agent.publish(try arguments.name("event"), data: arguments.payload("data", default: .null))
            return text("published \(receipt.topic) #\(receipt.sequence)")
        case "recent_events":
            return try await recentEvents(arguments)
        case "broker_status":
            let snapshot = try await BrokerStatus.fetch(endpoint: broker.endpoint, curve: broker.curve)
            return text(String(decoding: try JSONEncoder().encode(snapshot), as: UTF8.self))
        case "next_request":
            return try await nextRequest(waitingUpTo: arguments.seconds("wait_seconds", default: 10, maximum: 60))
        case "reply":
            return answering(await inbox.reply(try arguments.name("request_id"), try arguments.response()))
        case "progress":
            return answering(await inbox.progress(try arguments.name("request_id"), note: try arguments.optionalText("note") ?? "",
                                                  extendBy: try arguments.seconds("extend_seconds", default: 30, maximum: 600)))
        default:
            throw MCPError.invalidParams("unknown tool '\(name)'")
        }
    }

    private func ask(_ kind: RequestKind, to target: Target, body: [UInt8], _ arguments: ToolArguments) async throws -> CallTool.Result {
        let timeout = try arguments.timeout()
        guard let outcome = try await broker.watching({ await agent.send(kind, to: target, body: body, timeout: timeout) }) else {
            return unavailable(broker)
        }
        return await result(outcome)
    }

    private func callLayer(_ arguments: ToolArguments) async throws -> CallTool.Result {
        let (layer, need, body, timeout) = (try arguments.name("layer"), try arguments.optionalName("need"),
                                            try arguments.payload("context"), try arguments.timeout())
        let retries = agent.configuration.retries
        guard let outcome = try await gateway.watching({
            try await agent.sendAcrossLayers(.call, toLayer: layer, need: need, body: body, timeout: timeout, retries: retries)
        }) else {
            return unavailable(gateway)
        }
        return await result(outcome)
    }

    private func nextRequest(waitingUpTo wait: Duration) async throws -> CallTool.Result {
        guard let taken = try await inbox.next(waitingUpTo: wait) else {
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
        if outcome.status == .noRoute, let snapshot = try? await BrokerStatus.fetch(endpoint: broker.endpoint, curve: broker.curve,
                                                                                     timeout: .seconds(1)) {
            let known = snapshot.agents.map { "\($0.id) (layer \($0.layer)\($0.capabilities.isEmpty ? "" : "; " + $0.capabilities.joined(separator: ", ")))" }
            message += known.isEmpty ? "\nNo agent is registered." : "\nRegistered agents: " + known.joined(separator: "; ")
        }
        return failure(message)
    }

    /// The error result of a call whose server stopped answering while it was in flight.
    func unavailable(_ server: LivenessProbe) -> CallTool.Result {
        failure("UNAVAILABLE: the \(server.name) at \(server.endpoint) stopped answering while the request was in flight; "
                + "whether it was served is unknown. Try again once broker_status answers.")
    }

    private func answering(_ answering: RequestInbox.Answering) -> CallTool.Result {
        switch answering {
        case .done(let note): text(note)
        case .refused(let why): failure(why)
        }
    }

    func text(_ text: String) -> CallTool.Result { .init(content: [.text(text: text, annotations: nil, _meta: nil)], isError: false) }
    func failure(_ text: String) -> CallTool.Result { .init(content: [.text(text: text, annotations: nil, _meta: nil)], isError: true) }
}

extension Duration {
    /// Whole and fractional seconds, for the model to read.
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

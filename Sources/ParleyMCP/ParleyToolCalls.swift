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
            let (layer, need, body, timeout) = (try arguments.name("layer"), try arguments.optionalName("need"),
                                                try arguments.payload("context"), try arguments.timeout())
            if let problem = Names.layerProblem(layer) { throw MCPError.invalidParams("call_layer: \(problem)") }
            if let need, let problem = Names.capabilityProblem(need) { throw MCPError.invalidParams("call_layer: \(problem)") }
            return await watched {
                do {
                    return try await agent.sendAcrossLayers(.call, toLayer: layer, need: need, body: body, timeout: timeout, retries: 0)
                } catch {
                    return Outcome(status: .badRequest, body: Array("\(error)".utf8), attempts: 0)
                }
            }
        case "publish_event":
            let receipt = try await agent.publish(try arguments.name("event"), data: arguments.payload("data", default: .null))
            return text("published \(receipt.topic) #\(receipt.sequence)")
        case "recent_events":
            return try await recentEvents(arguments)
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
        let timeout = try arguments.timeout()
        return await watched { await agent.send(kind, to: target, body: body, timeout: timeout) }
    }

    /// Runs `call`; from 2 s on, asks the broker for STATUS every second, and when two in a row go unanswered ends
    /// the tool call at once with an error saying the broker went away (the call is cancelled and left to end on
    /// its own), rather than leaving the model waiting until the deadline.
    private func watched(_ call: @escaping @Sendable () async -> Outcome) async -> CallTool.Result {
        let (endpoint, curve) = (brokerEndpoint, brokerCurve)
        let first = FirstOf<Outcome?>()
        let calling = Task { first.offer(await call()) }
        let watching = Task {
            guard (try? await Task.sleep(for: .seconds(2))) != nil else { return }
            var silent = 0
            while silent < 2 {
                let answered = (try? await BrokerStatus.fetch(endpoint: endpoint, curve: curve, timeout: .milliseconds(300))) != nil
                silent = answered ? 0 : silent + 1
                guard (try? await Task.sleep(for: .seconds(1))) != nil else { return }
            }
            first.offer(nil)
        }
        let ending = await first.value()
        watching.cancel()
        guard let outcome = ending else {
            calling.cancel()
            return failure("UNAVAILABLE: the broker at \(brokerEndpoint) stopped answering while the request was in flight; "
                           + "whether it was served is unknown. Try again once broker_status answers.")
        }
        return await result(outcome)
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

    /// Replays what the broker retains of the agent's events (from `from_sequence`), until `limit` events or until
    /// nothing more arrives for a moment (a replay has no end marker at the SDK's level).
    private func recentEvents(_ arguments: ToolArguments) async throws -> CallTool.Result {
        let agentID = try arguments.name("agent")
        let event = try arguments.optionalName("event")
        let limit = values(arguments, "limit", default: 50, maximum: 500)
        let from = UInt64(values(arguments, "from_sequence", default: 1, maximum: Int.max))
        let subscription: EventSubscription
        do {
            subscription = try agent.subscribe(to: agentID, events: event.map { [$0] }, from: .sequence(from))
        } catch {
            throw MCPError.invalidParams("recent_events: \(error)")
        }
        defer { subscription.cancel() }
        let lines = await withTaskGroup(of: [String]?.self) { group in
            group.addTask {
                var lines: [String] = []
                for await notice in subscription {
                    switch notice {
                    case .event(let event):
                        lines.append("\(event.topic) #\(event.sequence) \(event.timestamp) \(String(decoding: event.data, as: UTF8.self))")
                    case .gap(let topic, let from, let to):
                        lines.append("GAP \(topic) #\(from)…#\(to): no longer retained by the broker")
                    }
                    if lines.count >= limit { break }
                }
                return lines
            }
            group.addTask {  // the replay arrives at once; stop listening after a quiet moment
                try? await Task.sleep(for: .milliseconds(1_500))
                return nil
            }
            var collected: [String] = []
            for await result in group {
                group.cancelAll()  // the timer ends the collection; the collection ends the timer
                if let lines = result {
                    collected = lines
                    break
                }
            }
            return collected
        }
        return text(lines.isEmpty ? "no retained events of \(agentID)\(event.map { "." + $0 } ?? "") from #\(from)" : lines.joined(separator: "\n"))
    }

    private func values(_ arguments: ToolArguments, _ name: String, default fallback: Int, maximum: Int) -> Int {
        min(max((try? arguments.integer(name)) ?? fallback, 1), maximum)
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

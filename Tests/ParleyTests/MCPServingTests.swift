import MCP
import Parley
import Testing

/// `parley mcp` serving requests: what the inbox does when a `next_request` call is cancelled, when the broker
/// withdraws a request, and when progress asks for more time than the broker gives.
extension BrokerIntegration.MCPTests {
    @Test("a cancelled next_request leaves no reader behind: the request delivered next goes to the next next_request")
    func cancelledNextRequest() async throws {
        let broker = try await BrokerProcess()
        defer { broker.stop() }
        try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
            try await session.callCancelled("next_request", ["wait_seconds": 30]) {
                try await Task.sleep(for: .milliseconds(500))  // the call waits in the inbox by then
            }
            _ = try await session.call("broker_status")  // the server reads messages in order: it has the cancellation
            let asker = try await connectedAgent("asker", broker: broker)
            let asking = Task { await asker.send(.help, to: .agent("llm"), body: Array(#""after""#.utf8), timeout: .seconds(20)) }
            let taken = try await session.call("next_request", ["wait_seconds": 10])
            #expect(taken.text.contains(#""after""#), "the cancelled call swallowed the request: \(taken)")
            #expect(try await session.call("reply", ["request_id": try requestID(in: taken), "answer": "ok"]).text == "done")
            #expect(await asking.value.status == .ok)
            await asker.close()
        }
    }

    @Test("a request the broker withdraws (its requester cancelled it) leaves the inbox; progress and reply then say it was withdrawn")
    func withdrawnRequest() async throws {
        let broker = try await BrokerProcess()
        defer { broker.stop() }
        try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
            let asker = try await connectedAgent("asker", broker: broker)
            let asking = Task { await asker.send(.help, to: .agent("llm"), body: Array("1".utf8), timeout: .seconds(30)) }
            let id = try requestID(in: try await session.call("next_request", ["wait_seconds": 10]))
            asking.cancel()
            #expect(await asking.value.status == .cancelled)
            let progress = try await refusedProgress(session, id)
            #expect(progress.isError && progress.text.contains("withdrawn by the broker"), "\(progress)")
            let reply = try await session.call("reply", ["request_id": id, "answer": "late"])
            #expect(reply.isError && reply.text.contains("too late") && reply.text.contains("withdrawn by the broker"), "\(reply)")
            await asker.close()
        }
    }

    @Test("progress asking past the broker's maximum deadline is clamped and says so; the requester gets TIMEOUT at that maximum")
    func progressClamped() async throws {
        let broker = try await BrokerProcess(["--max-deadline-ms", "4000"])
        defer { broker.stop() }
        try await withMCPSession(["--broker", broker.endpoint, "--id", "llm", "--max-deadline-ms", "4000"]) { session in
            let asker = try await connectedAgent("asker", broker: broker)
            let asking = Task { await asker.send(.help, to: .agent("llm"), body: Array("1".utf8), timeout: .seconds(2)) }
            let id = try requestID(in: try await session.call("next_request", ["wait_seconds": 10]))
            let extended = try await session.call("progress", ["request_id": id, "extend_seconds": 60])
            #expect(!extended.isError && extended.text.contains("clamped") && extended.text.contains("maximum deadline of 4 s"),
                    "\(extended)")
            let outcome = await asking.value
            #expect(outcome.status == .timeout, "\(outcome.status) \(outcome.text)")
            _ = try await refusedProgress(session, id)
            let late = try await session.call("reply", ["request_id": id, "answer": "late"])
            #expect(late.isError && late.text.contains("too late"), "\(late)")
            await asker.close()
        }
    }

    /// Reports progress (no extension) on request `id` until the inbox refuses it, for up to 15 s, and returns the
    /// last answer: the broker's REVOKE reaches the MCP agent about when the requester hears the outcome, not before.
    private func refusedProgress(_ session: MCPSession, _ id: Value) async throws -> (text: String, isError: Bool) {
        let giveUp = ContinuousClock.now + .seconds(15)
        var progress = try await session.call("progress", ["request_id": id, "extend_seconds": 0])
        while !progress.isError, ContinuousClock.now < giveUp {
            try await Task.sleep(for: .milliseconds(100))
            progress = try await session.call("progress", ["request_id": id, "extend_seconds": 0])
        }
        return progress
    }
}

import Foundation
import MCP
import Parley
import Testing

/// `parley mcp` calling out: coordination, cancellation by the host, a gateway or broker that goes away, errors
/// of the SDK as tool results, the environment's capabilities, and a long replay.
extension BrokerIntegration.MCPTests {
    @Test("coordinate counts OK replies by status (a plain-text answer counts); when every target fails the result is an error")
    func coordinateCounts() async throws {
        let broker = try await BrokerProcess()
        defer { broker.stop() }
        let plain = try await connectedAgent("plain", broker: broker) { _ in .answer(bytes: Array("yes, not JSON".utf8)) }
        let refuser = try await connectedAgent("refuser", broker: broker) { _ in .decline("not mine") }
        try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
            let first = try await session.call("coordinate", ["targets": ["plain", "refuser"], "task": "go", "gather": "quorum",
                                                              "quorum_size": 1])
            #expect(!first.isError && first.text.contains("agent:plain: OK yes, not JSON"), "\(first)")
            let failed = try await session.call("coordinate", ["targets": ["refuser", "ghost"], "task": "go"])
            #expect(failed.isError && failed.text.hasPrefix("FAILED: 0 OK answer(s)") && failed.text.contains("agent:refuser: DECLINED not mine")
                    && failed.text.contains("agent:ghost: NO_ROUTE"), "\(failed)")
        }
        await plain.close()
        await refuser.close()
    }

    @Test("cancelling a tool call cancels the request it made: the serving agent's handler is cancelled")
    func hostCancelsACall() async throws {
        let broker = try await BrokerProcess()
        defer { broker.stop() }
        let (started, start) = AsyncStream.makeStream(of: Void.self)
        let (stopped, stop) = AsyncStream.makeStream(of: Bool.self)
        let slow = try await connectedAgent("slow", capabilities: ["ponder"], broker: broker) { _ in
            start.yield()
            let cancelled = (try? await Task.sleep(for: .seconds(60))) == nil
            stop.yield(cancelled)
            return .answer(bytes: [])
        }
        try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
            try await session.callCancelled("request_help", ["to": "cap:ponder", "problem": "?", "timeout_seconds": 60]) {
                _ = await started.first { _ in true }
            }
            let ended = Task { await stopped.first { _ in true } }
            let watchdog = Task {
                try await Task.sleep(for: .seconds(30))
                stop.yield(false)
            }
            #expect(await ended.value == true, "the handler ran on after the host cancelled the call")
            watchdog.cancel()
        }
        await slow.close()
    }

    @Test("when the gateway goes away mid-call_layer, the call ends with a clear error naming the gateway (the broker still answers)")
    func gatewayGoesAway() async throws {
        let folder = try TemporaryFolder()
        let broker = try await BrokerProcess()
        defer { broker.stop() }
        let gateway = try await GatewayProcess(broker: broker, in: folder)
        let store = try await connectedAgent("store", layer: "infrastructure", capabilities: ["persistence"], broker: broker) { _ in
            try await Task.sleep(for: .seconds(60))
            return .answer(bytes: [])
        }
        try await withMCPSession(["--broker", broker.endpoint, "--gateway", gateway.endpoint, "--id", "llm"]) { session in
            let started = ContinuousClock.now
            async let answer = session.call("call_layer", ["layer": "infrastructure", "need": "persistence", "context": "x",
                                                           "timeout_seconds": 60])
            try await Task.sleep(for: .seconds(1))
            await gateway.kill()
            let ended = try await answer
            #expect(ended.isError && ended.text.contains("the gateway at \(gateway.endpoint) stopped answering"), "\(ended)")
            #expect(ContinuousClock.now - started < .seconds(30), "the tool call waited for the deadline")
        }
        await store.close()
    }

    @Test("an SDK error is a readable error result (broker_status with the broker gone), a naming error is invalid params")
    func sdkErrors() async throws {
        let broker = try await BrokerProcess()
        try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
            do {
                let result = try await session.call("publish_event", ["event": "no.dots"])
                Issue.record("a bad event name was published: \(result)")
            } catch let error as MCPError {
                #expect(error.code == MCPError.invalidParams(nil).code && "\(error)".contains("publish_event"), "\(error)")
            }
            await broker.child.stop(signal: SIGKILL)
            let status = try await session.call("broker_status")
            #expect(status.isError && status.text.hasPrefix("broker_status failed: no answer from a broker at"), "\(status)")
        }
    }

    @Test("PARLEY_CAPABILITIES is trimmed and empty items are dropped")
    func capabilitiesFromEnvironment() async throws {
        let broker = try await BrokerProcess()
        defer { broker.stop() }
        try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"], environment: ["PARLEY_CAPABILITIES": " math , ,logic ,"]) { session in
            let status = try JSONDecoder().decode(BrokerSnapshot.self, from: Data(try await session.call("broker_status").text.utf8))
            #expect(status.agents.first { $0.id == "llm" }?.capabilities == ["math", "logic"], "\(status.agents)")
        }
    }

    @Test("recent_events reads a long replay to the end (500 events) and an empty topic answers that it is empty")
    func longReplay() async throws {
        let broker = try await BrokerProcess()
        defer { broker.stop() }
        let game = try await connectedAgent("game", broker: broker)
        for level in 1...500 { _ = try await game.publish("on_level", ["level": level]) }
        try await withMCPSession(["--broker", broker.endpoint, "--events", broker.eventsEndpoint, "--id", "llm"]) { session in
            let replay = try await session.call("recent_events", ["agent": "game", "limit": 500])
            let lines = replay.text.split(separator: "\n")
            #expect(lines.count == 500 && lines.last?.hasSuffix(#"{"level":500}"#) == true, "\(lines.count) lines, ending \(lines.last ?? "")")
            let empty = try await session.call("recent_events", ["agent": "game", "event": "on_nothing"])
            #expect(empty.text == "no retained events of game.on_nothing from #1", "\(empty)")
        }
        await game.close()
    }
}

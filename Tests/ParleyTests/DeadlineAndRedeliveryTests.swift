import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Deadlines and redelivery")
    struct DeadlineAndRedeliveryTests {
        @Test("a silent agent: TIMEOUT exactly once at the deadline, then the late reply is dropped and counted")
        func silentAgentTimesOut() async throws {
            // Slow heartbeats: the raw agents here do not heartbeat.
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let silent = try RawAgent(endpoint: broker.endpoint)
            defer { silent.close() }
            #expect(try await silent.register(id: "silent", layer: "domain", capabilities: ["slow"])?.code == .welcome)
            let requester = try RawAgent(endpoint: broker.endpoint)
            defer { requester.close() }
            #expect(try await requester.register(id: "asker", layer: "domain")?.code == .welcome)

            let callbackID = CallbackID.random()
            try await requester.send(.request(Request(callbackID: callbackID, kind: .help, timeoutMilliseconds: 800,
                                                      target: .capability("slow"), contentType: "text/plain")), body: Array("hello".utf8))
            let delivered = try #require(try await silent.next())
            guard case .deliver(let deliver) = delivered.header else { Issue.record("expected DELIVER, got \(delivered.header)"); return }
            #expect(deliver.attempt == 1 && deliver.callbackID == callbackID && delivered.body == Array("hello".utf8))

            let outcome = try #require(try await requester.next())
            #expect(outcome.header == .result(ResultHeader(callbackID: callbackID, status: .timeout, attempts: 1)))
            #expect(try await silent.next()?.header == .revoke(deliveryID: deliver.deliveryID))

            try await silent.send(.reply(Reply(deliveryID: deliver.deliveryID, status: .ok)), body: Array("too late".utf8))
            #expect(try await requester.next(timeout: .seconds(1)) == nil, "no second outcome")
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint)
            #expect(status.lateReplies == 1)
            #expect(status.outcomes["TIMEOUT"] == 1)
            #expect(status.outcomes["OK"] == 0)
        }

        @Test("the serving agent is killed mid-request: another capable agent answers, and sees attempt 2")
        func killedAgentRedelivers() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let slow = try await TestProcess("parley", ["serve", "--broker", broker.endpoint, "--id", "slow", "--cap", "work",
                                                        "--delay-ms", "120000"], readyPrefix: "agent slow serving")
            defer { slow.signal(SIGKILL) }
            let asker = try await connectedAgent("asker", broker: broker)
            let pending = Task { await asker.send(.help, to: .capability("work"), body: Array("job".utf8), timeout: .seconds(60)) }
            try await waitUntil("the slow agent holds the request") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint).agents.first { $0.id == "slow" }?.inFlight == 1
            }
            let backup = EchoRecorder()
            let standby = try await connectedAgent("standby", capabilities: ["work"], broker: broker, handler: backup.handler())
            #expect(backup.calls == 0)
            await slow.stop(signal: SIGKILL)
            let outcome = await pending.value
            #expect(outcome.status == .ok)
            #expect(outcome.text == "job")
            #expect(outcome.attempts == 2)
            #expect(backup.attempts == [2])
            await asker.close()
            await standby.close()
        }

        @Test("a request addressed to an agent that reconnects is delivered again to its new connection")
        func reconnectKeepsAddressedRequests() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let instance = UInt64.random(in: 1...(.max))
            let first = try RawAgent(endpoint: broker.endpoint)
            #expect(try await first.register(id: "worker", layer: "domain", instance: instance)?.code == .welcome)
            let asker = try await connectedAgent("asker", broker: broker)
            let pending = Task { await asker.send(.help, to: .agent("worker"), body: Array("task".utf8), timeout: .seconds(30)) }
            #expect(try await first.next()?.header.code == .deliver)
            first.close()

            let second = try RawAgent(endpoint: broker.endpoint)
            defer { second.close() }
            #expect(try await second.register(id: "worker", layer: "domain", instance: instance)?.code == .welcome)
            let redelivered = try #require(try await second.next())
            guard case .deliver(let deliver) = redelivered.header else { Issue.record("expected DELIVER"); return }
            #expect(deliver.attempt == 2)
            #expect(redelivered.body == Array("task".utf8))
            try await second.send(.reply(Reply(deliveryID: deliver.deliveryID, status: .ok)), body: Array("done".utf8))
            let outcome = await pending.value
            #expect(outcome.status == .ok && outcome.text == "done" && outcome.attempts == 2)
            await asker.close()
        }

        @Test("PROGRESS extends the deadline past the original timeout")
        func progressExtends() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let worker = try await connectedAgent("thinker", broker: broker) { request in
                for _ in 0..<4 {
                    request.progress(extendBy: .seconds(2), note: "still thinking")
                    try await Task.sleep(for: .milliseconds(400))
                }
                return .answer(bytes: Array("42".utf8))
            }
            let asker = try await connectedAgent("asker", broker: broker)
            let outcome = await asker.send(.help, to: .agent("thinker"), body: [], timeout: .milliseconds(700))
            #expect(outcome.status == .ok)
            #expect(outcome.text == "42")
            await asker.close()
            await worker.close()
        }

        @Test("cancelling the requesting task ends the request with CANCELLED")
        func cancellation() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let worker = try await connectedAgent("sloth", broker: broker, handler: EchoRecorder().handler(delay: .seconds(60)))
            let asker = try await connectedAgent("asker", broker: broker)
            let pending = Task { await asker.send(.help, to: .agent("sloth"), body: [], timeout: .seconds(60)) }
            try await waitUntil("the request is delivered") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint).agents.first { $0.id == "sloth" }?.inFlight == 1
            }
            pending.cancel()
            #expect(await pending.value.status == .cancelled)
            await asker.close()
            await worker.close()
        }

        @Test("a task cancelled before its request is sent ends CANCELLED, and the request never runs")
        func cancellationBeforeSend() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let recorder = EchoRecorder()
            let worker = try await connectedAgent("echo", broker: broker, handler: recorder.handler())
            let asker = try await connectedAgent("asker", broker: broker)
            let cancelled = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return await asker.send(.help, to: .agent("echo"), body: Array("never".utf8), timeout: .seconds(10))
            }
            let outcome = await cancelled.value
            #expect(outcome.status == .cancelled)
            #expect(outcome.attempts == 0)
            // Requests from one connection are delivered in order: had the cancelled one been sent, it would
            // have run before this one.
            let next = await asker.send(.help, to: .agent("echo"), body: Array("after".utf8), timeout: .seconds(10))
            #expect(next.status == .ok)
            #expect(recorder.calls == 1)
            await asker.close()
            await worker.close()
        }
    }
}

/// Polls `condition` every 50 ms for up to 20 s.
func waitUntil(_ what: String, _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(20)
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw TestFailure("timed out waiting until \(what)")
}

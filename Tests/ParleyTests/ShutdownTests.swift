import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Graceful shutdown")
    struct ShutdownTests {
        /// Sends `count` requests to the slow helper from a raw requester and waits until all are delivered.
        private func requestsInFlight(_ broker: BrokerProcess, count: Int) async throws -> (RawAgent, [CallbackID]) {
            let requester = try RawAgent(endpoint: broker.endpoint)
            #expect(try await requester.register(id: "asker", layer: "domain")?.code == .welcome)
            let ids = (0..<count).map { _ in CallbackID.random() }
            for id in ids {
                try await requester.send(.request(Request(callbackID: id, kind: .help, timeoutMilliseconds: 60_000,
                                                          target: .agent("slow"), contentType: "text/plain")), body: Array("job".utf8))
            }
            try await waitUntil("every request is delivered") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint).agents.first { $0.id == "slow" }?.inFlight == count
            }
            return (requester, ids)
        }

        private func results(_ requester: RawAgent, count: Int) async throws -> [CallbackID: Status] {
            var statuses: [CallbackID: Status] = [:]
            while statuses.count < count, let (header, _) = try await requester.next(timeout: .seconds(15)) {
                if case .result(let result) = header { statuses[result.callbackID] = result.status }
            }
            return statuses
        }

        @Test("SIGTERM with requests in flight: they finish within the grace period and the broker exits 0")
        func pendingRequestsFinish() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30", "--shutdown-grace-ms", "10000"])
            let helper = try await connectedAgent("slow", broker: broker, handler: EchoRecorder().handler(delay: .milliseconds(700)))
            let (requester, ids) = try await requestsInFlight(broker, count: 3)
            defer { requester.close() }
            let exit = Task { await broker.child.stop(signal: SIGTERM) }
            let statuses = try await results(requester, count: 3)
            #expect(statuses == Dictionary(uniqueKeysWithValues: ids.map { ($0, Status.ok) }))
            #expect(await exit.value == 0)
            await helper.close()
        }

        /// Registers an agent "gone" and drops its connection: once the broker counts it away, requests for it wait.
        private func goneAgent(_ broker: BrokerProcess) async throws {
            let gone = try RawAgent(endpoint: broker.endpoint)
            #expect(try await gone.register(id: "gone", layer: "domain")?.code == .welcome)
            gone.close()
            try await waitUntil("the agent is away") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint).agents.first { $0.id == "gone" }?.state == "away"
            }
        }

        @Test("SIGTERM with requests that outlast the grace: one RESULT UNAVAILABLE each, then HEARTBEAT and BYE, and the broker exits 0")
        func unfinishedRequestsEndUnavailable() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30", "--shutdown-grace-ms", "300"])
            let helper = try await connectedAgent("slow", broker: broker, handler: EchoRecorder().handler(delay: .seconds(30)))
            try await goneAgent(broker)
            let (requester, delivered) = try await requestsInFlight(broker, count: 3)
            defer { requester.close() }
            let waiting = CallbackID.random()
            try await requester.send(.request(Request(callbackID: waiting, kind: .help, timeoutMilliseconds: 60_000,
                                                      target: .agent("gone"), contentType: "text/plain")), body: Array("job".utf8))
            try await waitUntil("the request for the away agent is pending") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint).pending == 4
            }
            let exit = Task { await broker.child.stop(signal: SIGTERM) }
            var messages: [Header] = []  // heartbeats included
            while let frames = try await requester.receive(timeout: .seconds(5)) { messages.append(try HeaderDecoder.decode(frames[0])) }
            let results = messages.compactMap { header -> ResultHeader? in
                if case .result(let result) = header { result } else { nil }
            }
            // Exactly one RESULT per request: UNAVAILABLE, with the deliveries made (1, or 0 for the waiting one).
            let ends = Dictionary(grouping: results, by: \.callbackID).mapValues { $0.map { "\($0.status) \($0.attempts)" } }
            #expect(ends == Dictionary(uniqueKeysWithValues: delivered.map { ($0, ["\(Status.unavailable) 1"]) }
                                       + [(waiting, ["\(Status.unavailable) 0"])]))
            // Then BYE, but never right after a RESULT: that would read as "not registered, send it again" (§6.1).
            let bye = try #require(messages.firstIndex(of: .bye))
            #expect(messages[..<bye].filter { if case .result = $0 { true } else { false } }.count == 4)
            #expect(bye > 0 && messages[bye - 1] == .heartbeat)
            #expect(await exit.value == 0)
            await helper.close()
        }

        @Test("SIGTERM with a handler outlasting the grace: the SDK caller gets the broker's UNAVAILABLE at once, not at its deadline")
        func sdkCallerGetsUnavailableAtOnce() async throws {
            let broker = try await BrokerProcess(["--shutdown-grace-ms", "500"])
            let recorder = EchoRecorder()
            let helper = try await connectedAgent("slow", capabilities: ["slow"], broker: broker, handler: recorder.handler(delay: .seconds(5)))
            try await goneAgent(broker)
            let asker = try await connectedAgent("asker", broker: broker)
            let targets: [Target] = [.capability("slow"), .capability("slow"), .agent("gone")]
            let calls = targets.map { target in
                Task { await asker.send(.help, to: target, body: Array("\"job\"".utf8), timeout: .seconds(30)) }
            }
            try await waitUntil("two requests are delivered and one waits") {
                let status = try await BrokerStatus.fetch(endpoint: broker.endpoint)
                return status.pending == 3 && status.agents.first { $0.id == "slow" }?.inFlight == 2
            }
            let clock = ContinuousClock()
            let stopped = clock.now
            broker.stop()
            var outcomes: [(status: Status, attempts: Int)] = []
            for call in calls {
                let outcome = await call.value
                outcomes.append((outcome.status, outcome.attempts))
            }
            // Well before the 30 s deadline (the grace is 0.5 s); a generous bound, not a timing measurement.
            #expect(clock.now - stopped < .seconds(10))
            #expect(outcomes.map(\.status) == [.unavailable, .unavailable, .unavailable])
            #expect(outcomes.map(\.attempts) == [1, 1, 0])
            #expect(recorder.calls == 2)
            await asker.close()
            await helper.close()
        }
    }
}

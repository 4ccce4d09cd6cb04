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
            let exit = Task.detached { broker.child.stop(signal: SIGTERM) }
            let statuses = try await results(requester, count: 3)
            #expect(statuses == Dictionary(uniqueKeysWithValues: ids.map { ($0, Status.ok) }))
            #expect(await exit.value == 0)
            await helper.close()
        }

        @Test("SIGTERM with requests that outlast the grace period: each ends UNAVAILABLE and the broker exits 0")
        func unfinishedRequestsEndUnavailable() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30", "--shutdown-grace-ms", "300"])
            let helper = try await connectedAgent("slow", broker: broker, handler: EchoRecorder().handler(delay: .seconds(30)))
            let (requester, ids) = try await requestsInFlight(broker, count: 3)
            defer { requester.close() }
            let exit = Task.detached { broker.child.stop(signal: SIGTERM) }
            let statuses = try await results(requester, count: 3)
            #expect(statuses == Dictionary(uniqueKeysWithValues: ids.map { ($0, Status.unavailable) }))
            #expect(await exit.value == 0)
            await helper.close()
        }
    }
}

import Foundation
import Parley
import ParleyWire
import Synchronization
import Testing

extension BrokerIntegration {
    /// What PROTOCOL.md §6.9 promises across a broker crash: exactly one outcome per request, execution at least once.
    @Suite("Crash guarantee")
    struct CrashGuaranteeTests {
        @Test("a request in flight across a kill -9 and restart ends exactly once, OK; its handler runs again with the same callback id")
        func requestAcrossKill() async throws {
            let endpoint = "tcp://127.0.0.1:\(try freePort())"
            let events = "tcp://127.0.0.1:\(try freePort())"
            let arguments = ["--endpoint", endpoint, "--events-endpoint", events]
            let first = try await BrokerProcess(arguments)
            let runs = Mutex<[(callbackID: CallbackID, requester: String, attempt: Int)]>([])
            let worker = try await connectedAgent("worker", broker: first) { request in
                let run = runs.withLock { runs in
                    runs.append((request.callbackID, request.requester, request.attempt))
                    return runs.count
                }
                if run == 1 { try await Task.sleep(for: .seconds(2)) }  // still running when the broker dies
                return .answer(bytes: Array("run \(run)".utf8))
            }
            let caller = try await connectedAgent("caller", broker: first)
            let call = Task { await caller.send(.help, to: .agent("worker"), body: Array("once?".utf8), timeout: .seconds(60)) }
            try await waitUntil("the handler started") { runs.withLock { !$0.isEmpty } }
            await first.child.stop(signal: SIGKILL)

            let second = try await BrokerProcess(arguments)
            defer { second.stop() }
            let outcome = await call.value
            #expect(outcome.status == .ok, "\(outcome.status) \(outcome.text)")
            let seen = runs.withLock { $0 }
            #expect(seen.count == 2, "delivered again after the restart: \(seen.count) run(s)")
            #expect(Set(seen.map(\.callbackID)).count == 1 && seen.allSatisfy { $0.requester == "caller" && $0.attempt == 1 },
                    "the same requester and callback id, the attempt counted from 1 again")
            #expect(outcome.text == "run 2", "the outcome is the second run's: the first run's REPLY went to the dead broker")
            await caller.close(); await worker.close()
        }
    }
}

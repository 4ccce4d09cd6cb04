import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Event journal")
    struct JournalTests {
        @Test("after kill -9 during a stream of confirmed events, every confirmed event is delivered in order and no sequence is reused")
        func survivesKill() async throws {
            let folder = try TemporaryFolder()
            let first = try await BrokerProcess(["--data-dir", folder.path])
            let publisher = try await connectedAgent("game", broker: first)
            // A stream of confirmed events, with the broker killed in the middle of it.
            let confirmed = Task {
                var sequences: [UInt64] = []
                for index in 0..<10_000 {
                    guard let receipt = try? await publisher.publish("on_task_complete", ["n": index]) else { break }
                    sequences.append(receipt.sequence)
                }
                return sequences
            }
            try await waitUntil("a few hundred events are confirmed") {
                (try? await BrokerStatus.fetch(endpoint: first.endpoint).eventsPublished) ?? 0 >= 300
            }
            first.child.stop(signal: SIGKILL)
            await publisher.close()
            let sequences = await confirmed.value
            #expect(sequences.count >= 300)
            #expect(sequences == Array(1...UInt64(sequences.count)))

            let second = try await BrokerProcess(["--data-dir", folder.path])
            defer { second.stop() }
            let watcher = try await connectedAgent("watcher", broker: second)
            let subscription = try watcher.subscribe(to: "game", from: .sequence(1))
            var received: [UInt64] = []
            for await notice in subscription {
                guard case .event(let event) = notice else { Issue.record("unexpected \(notice)"); break }
                received.append(event.sequence)
                if received.count >= sequences.count { break }
            }
            #expect(received == sequences)
            let again = try await connectedAgent("game", broker: second)
            let next = try await again.publish("on_task_complete", ["n": -1]).sequence
            #expect(next > sequences.last!, "sequence \(next) must not reuse one confirmed before the kill")
            await again.close(); await watcher.close()
        }
    }
}

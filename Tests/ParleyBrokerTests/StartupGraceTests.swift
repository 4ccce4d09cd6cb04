import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Just after start-up, unknown targets wait for agents to re-register")
struct StartupGraceTests {
    @Test("a request to a capability nobody offers yet is delivered when its agent registers within the grace")
    func deliveredWithinGrace() throws {
        var harness = BrokerHarness(.forTests { $0.startupRouteGraceMilliseconds = 5_000 })
        let requester = harness.register("asker")
        let early = harness.request(from: requester, to: .capability("math"))
        #expect(early.isEmpty, "no NO_ROUTE during the grace")
        _ = harness.advance(by: 1_000)
        let (solver, messages) = harness.hello("solver", capabilities: ["math"])
        #expect(messages.map(\.header.code) == [.welcome, .deliver])
        #expect(messages.last?.peer == solver.peer, "delivered to the agent that just registered")
        #expect(harness.snapshot.pending == 1)
    }

    @Test("at the end of the grace, requests whose target still has no agent end NO_ROUTE, and later ones at once")
    func noRouteAfterGrace() throws {
        var harness = BrokerHarness(.forTests { $0.startupRouteGraceMilliseconds = 5_000 })
        let requester = harness.register("asker")
        let id = CallbackID.random()
        #expect(harness.request(from: requester, to: .agent("ghost"), id: id).isEmpty)
        let ended = harness.advance(by: 5_000)
        #expect(ended.results.map(\.status) == [.noRoute])
        #expect(ended.results.first?.callbackID == id)
        #expect(harness.request(from: requester, to: .agent("ghost")).results.map(\.status) == [.noRoute])
    }

    @Test("delivery ids start from the core's seed (random in the broker process), so a restarted broker does not reuse the ids of a previous one")
    func randomDeliveryIDs() throws {
        let ids = try [UInt64.random(in: 1...UInt64.max), .random(in: 1...UInt64.max), .random(in: 1...UInt64.max)].map { seed -> UInt64 in
            var harness = BrokerHarness(seed: seed)
            let requester = harness.register("asker")
            _ = harness.register("solver")
            return try #require(harness.request(from: requester, to: .agent("solver")).deliveries.first?.deliveryID)
        }
        #expect(Set(ids).count == 3)
        #expect(ids.allSatisfy { $0 > 1 })
    }
}

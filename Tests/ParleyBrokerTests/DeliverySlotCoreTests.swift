@testable import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("The core's delivery ids and pending slots: stale deliveries are late, slots are reused")
struct DeliverySlotCoreTests {
    /// The slot a delivery id names (its low 32 bits).
    private static func slot(of deliveryID: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: deliveryID) }

    /// How many slots the core's pending slab has allocated, read from its storage (a private array).
    private static func allocatedSlots(_ core: BrokerCore<TestPayload>, sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let storage = Mirror(reflecting: core.pending).children.first { $0.label == "slots" }?.value
        let slots = try #require(storage as? [PendingRequest<TestPayload>], "PendingSlab's storage is no longer `slots`",
                                 sourceLocation: sourceLocation)
        return slots.count
    }

    @Test("after redelivery, a REPLY with the earlier delivery's id is late, even from the agent now serving; the current one ends the request")
    func replyToEarlierDeliveryIsLate() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let one = broker.register("w1", capabilities: ["work"])
        let two = broker.register("w2", capabilities: ["work"])
        let id = CallbackID.random()
        let message = try #require(broker.request(from: requester, to: .capability("work"), id: id, timeout: 120_000).only)
        let first = try #require(message.deliver)
        let (serving, spare) = message.peer == one.peer ? (one, two) : (two, one)

        _ = broker.advance(by: 1_000)
        let moved = broker.direct { core, now in core.peerUnreachable(serving.peer, now: now) }
        let current = try #require(moved.to(spare).deliveries.only)
        #expect(moved.count == 1)
        #expect(current.attempt == 2)
        #expect(current.deliveryID != first.deliveryID)
        #expect(Self.slot(of: current.deliveryID) == Self.slot(of: first.deliveryID),
                "the request kept its slot: the two ids differ only in their sequence")
        #expect(broker.core.counters.lateReplies == 0)

        // The agent now serving answers with the old id (its slot and agent are right, the delivery is not).
        #expect(broker.send(.reply(Reply(deliveryID: first.deliveryID, status: .ok)), body: TestPayload("stale"), from: spare).isEmpty)
        #expect(broker.core.counters.lateReplies == 1)
        #expect(broker.core.pendingCount == 1)
        #expect(broker.inFlight(spare.id) == 1)
        // Nor does the old id extend the deadline.
        #expect(broker.send(.progress(ProgressReport(deliveryID: first.deliveryID, extendMilliseconds: 500_000)), from: spare).isEmpty)

        // The first agent comes back on a new connection and answers the delivery it had.
        let (back, welcome) = broker.hello(serving.id, capabilities: ["work"], instance: serving.instance)
        #expect(welcome.only?.isWelcome == true)
        #expect(broker.send(.reply(Reply(deliveryID: first.deliveryID, status: .ok)), body: TestPayload("stale"), from: back).isEmpty)
        #expect(broker.core.counters.lateReplies == 2)
        #expect(broker.core.pendingCount == 1)
        #expect(broker.snapshot.pending == 1)

        // The current delivery's REPLY ends it, once.
        let answer = TestPayload("the answer")
        let result = try #require(broker.reply(from: spare, to: current, body: answer).only)
        #expect(result.peer == requester.peer)
        #expect(result.result == ResultHeader(callbackID: id, status: .ok, attempts: 2))
        #expect(result.payload === answer)
        #expect(broker.core.pendingCount == 0)
        #expect(broker.core.counters.lateReplies == 2)
        #expect(broker.reply(from: spare, to: current).isEmpty)
        #expect(broker.core.counters.lateReplies == 3)
    }

    @Test("a REPLY with the delivery id of a finished request does not end the next request that took its slot")
    func replyToReusedSlotIsLate() throws {
        var fixture = try DeliveredRequest()
        let ended = try #require(fixture.broker.reply(from: fixture.solver, to: fixture.deliver).only)
        #expect(ended.result?.callbackID == fixture.id)

        let nextID = CallbackID.random()
        let next = try #require(fixture.broker.request(from: fixture.requester, to: .agent("solver"), id: nextID).deliveries.only)
        #expect(Self.slot(of: next.deliveryID) == Self.slot(of: fixture.deliver.deliveryID), "the freed slot is reused")
        #expect(next.deliveryID != fixture.deliver.deliveryID)

        // A duplicate of the first REPLY (same agent, same slot, old delivery) arrives late.
        #expect(fixture.broker.reply(from: fixture.solver, to: fixture.deliver, status: .failed).isEmpty)
        #expect(fixture.broker.core.counters.lateReplies == 1)
        #expect(fixture.broker.core.pendingCount == 1)

        let result = try #require(fixture.broker.reply(from: fixture.solver, to: next).only)
        #expect(result.result == ResultHeader(callbackID: nextID, status: .ok, attempts: 1))
        #expect(fixture.broker.core.pendingCount == 0)
    }

    @Test("10,000 requests finished through one agent use no more slots than were ever pending at once")
    func slotsAreReused() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let solver = broker.register("solver")
        var random = SeededGenerator(seed: 0x51ab)
        var outstanding: [(id: CallbackID, deliver: Deliver)] = []
        var mostPending = 0
        var finished = 0
        var slotsSeen: Set<UInt32> = []
        var deliveryIDs: Set<UInt64> = []
        var wrong = 0

        while finished < 10_000 {
            // Keep between 0 and 7 requests pending, answering them in random order.
            if outstanding.count < 7, outstanding.isEmpty || random.next() % 2 == 0 {
                let id = random.callbackID()
                let messages = broker.request(from: requester, to: .agent("solver"), id: id)
                guard let deliver = messages.deliveries.only, messages.only?.peer == solver.peer else {
                    Issue.record("request \(finished) not delivered: \(messages.map(\.header))")
                    return
                }
                outstanding.append((id, deliver))
                mostPending = max(mostPending, outstanding.count)
                slotsSeen.insert(Self.slot(of: deliver.deliveryID))
                if !deliveryIDs.insert(deliver.deliveryID).inserted { wrong += 1 }
            } else {
                let (id, deliver) = outstanding.remove(at: Int(random.next() % UInt64(outstanding.count)))
                let results = broker.reply(from: solver, to: deliver).results
                if results != [ResultHeader(callbackID: id, status: .ok, attempts: 1)] { wrong += 1 }
                finished += 1
            }
            #expect(broker.core.pendingCount == outstanding.count)
        }
        #expect(wrong == 0, "\(wrong) results or delivery ids wrong")
        #expect(mostPending == 7)
        #expect(slotsSeen.count <= mostPending, "slots used: \(slotsSeen.sorted())")
        #expect(slotsSeen.allSatisfy { Int($0) < mostPending })
        #expect(try Self.allocatedSlots(broker.core) <= mostPending)
        #expect(broker.core.pending.count == outstanding.count)
        #expect(broker.core.pending.occupied.count == outstanding.count)
        #expect(broker.core.pendingIndex.count == outstanding.count)
        #expect(broker.core.counters.lateReplies == 0)
        #expect(broker.inFlight("solver") == outstanding.count)

        // Whatever is still pending finishes normally.
        for (id, deliver) in outstanding {
            #expect(broker.reply(from: solver, to: deliver).results == [ResultHeader(callbackID: id, status: .ok, attempts: 1)])
        }
        #expect(broker.core.pendingCount == 0 && broker.core.pendingIndex.count == 0)
        #expect(try Self.allocatedSlots(broker.core) <= mostPending)
    }
}

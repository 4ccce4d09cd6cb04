@testable import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Pending requests live in a slab: slots reused, stale tickets and delivery ids find nothing")
struct PendingSlabTests {
    /// A request told apart from the others by its requester and callback id (the rest copied from `vacant`).
    private static func request(_ requester: String, _ number: UInt64) -> PendingRequest<TestPayload> {
        let vacant = PendingRequest<TestPayload>.vacant
        return PendingRequest(key: RequestKey(requester: requester, callbackID: CallbackID(high: 0x5eed, low: number)), keyTag: 0,
                              requester: vacant.requester, kind: vacant.kind, target: .agent("solver"),
                              contentType: "text/plain", requesterLayer: "app", caller: nil, payload: TestPayload("r\(number)"),
                              fingerprint: number, deadline: 1_000 + number, hardDeadline: 10_000)
    }

    /// Gives the request in `slot` a fresh delivery, as the core does when it delivers, and returns its id.
    private static func deliver(_ slab: inout PendingSlab<TestPayload>, _ slot: Int32) -> UInt64 {
        let id = slab.nextDeliveryID(for: slot)
        slab[slot].deliveryID = id
        return id
    }

    @Test("a pending request takes 192 bytes in the slab (its fields laid out without padding holes), with a payload class as the broker's")
    func compactLayout() {
        #expect(MemoryLayout<PendingRequest<TestPayload>>.stride <= 192, "stride \(MemoryLayout<PendingRequest<TestPayload>>.stride)")
    }

    @Test("a removed request's slot is taken by the next request (free list) before the slab grows")
    func slotReuse() throws {
        var slab = PendingSlab<TestPayload>(deliverySeed: 42)
        let tickets = (0..<4).map { slab.insert(Self.request("a", UInt64($0))) }
        #expect(tickets.map(\.slot) == [0, 1, 2, 3])
        #expect(slab.count == 4)

        let removed = slab.remove(1)
        #expect(removed?.key.callbackID.low == 1)
        let removedAgain = slab.remove(1)
        #expect(removedAgain == nil, "a free slot gives nothing back twice")
        #expect(slab.count == 3)
        #expect(!slab.isOccupied(1))
        #expect(slab.occupied == [0, 2, 3])
        _ = slab.remove(3)
        #expect(slab.occupied == [0, 2])

        let again = slab.insert(Self.request("b", 10))
        let andAgain = slab.insert(Self.request("b", 11))
        #expect(Set([again.slot, andAgain.slot]) == [1, 3], "freed slots are reused before the slab grows")
        let grown = slab.insert(Self.request("b", 12))
        #expect(grown.slot == 4)
        #expect(slab.count == 5)
        #expect(slab.occupied == [0, 1, 2, 3, 4])
        #expect(slab.request(again)?.key == RequestKey(requester: "b", callbackID: CallbackID(high: 0x5eed, low: 10)))
        #expect(slab.request(andAgain)?.key.callbackID.low == 11)
        #expect(slab[0].key.callbackID.low == 0 && slab[2].key.callbackID.low == 2)

        // Churn through one free slot: one request at a time, many times over, always in that slot.
        _ = slab.remove(2)
        for number in 100..<1_100 {
            let ticket = slab.insert(Self.request("c", UInt64(number)))
            #expect(ticket.slot == 2, "request \(number) took slot \(ticket.slot) instead of the free slot 2")
            let out = slab.remove(ticket.slot)
            #expect(out?.key.callbackID.low == UInt64(number))
        }
        #expect(slab.count == 4)
        #expect(slab.occupied == [0, 1, 3, 4])
        #expect(slab.insert(Self.request("d", 1)).slot == 2)
        #expect(slab.insert(Self.request("d", 2)).slot == 5)
    }

    @Test("the ticket of a removed request finds nothing, before and after its slot is reused; the new request's ticket finds it")
    func staleTicket() throws {
        var slab = PendingSlab<TestPayload>(deliverySeed: 7)
        let first = slab.insert(Self.request("a", 1))
        let other = slab.insert(Self.request("a", 2))
        #expect(slab.request(first)?.key.callbackID.low == 1)
        #expect(slab.ticket(first.slot) == first)

        _ = slab.remove(first.slot)
        #expect(slab.request(first) == nil, "a free slot answers no ticket")
        let second = slab.insert(Self.request("a", 3))
        #expect(second.slot == first.slot, "the freed slot is reused")
        #expect(second.generation != first.generation)
        #expect(slab.request(first) == nil, "the slot now holds another request: the old ticket must not reach it")
        #expect(slab.request(second)?.key.callbackID.low == 3)
        #expect(slab.ticket(second.slot) == second)
        #expect(slab.request(other)?.key.callbackID.low == 2)

        // Every generation of the slot stays distinct from every earlier one.
        var tickets = [first, second]
        for number in 4..<200 {
            _ = slab.remove(first.slot)
            let ticket = slab.insert(Self.request("a", UInt64(number)))
            #expect(ticket.slot == first.slot)
            tickets.append(ticket)
        }
        #expect(Set(tickets).count == tickets.count)
        #expect(tickets.dropLast().allSatisfy { slab.request($0) == nil })
        #expect(slab.request(tickets.last!)?.key.callbackID.low == 199)

        // A ticket for a slot the slab never had finds nothing (and does not trap).
        #expect(slab.request(PendingTicket(slot: 1_000, generation: 0)) == nil)
    }

    @Test("successive delivery ids differ and decode back to their slot; only the slot's current delivery maps to it")
    func deliveryIDs() throws {
        var slab = PendingSlab<TestPayload>(deliverySeed: 0xdead_beef_0000_0001)
        let tickets = (0..<3).map { slab.insert(Self.request("a", UInt64($0))) }
        #expect(slab.slot(delivery: 0) == nil)

        var seen: Set<UInt64> = []
        var previous: [Int32: UInt64] = [:]
        for round in 0..<50 {
            for ticket in tickets {
                let id = Self.deliver(&slab, ticket.slot)
                #expect(seen.insert(id).inserted, "delivery id \(id) issued twice (round \(round))")
                #expect(UInt32(truncatingIfNeeded: id) == UInt32(ticket.slot), "the low 32 bits name the slot")
                #expect(slab.slot(delivery: id) == ticket.slot)
                if let earlier = previous[ticket.slot] {
                    #expect(id >> 32 != earlier >> 32, "a redelivery gets another sequence")
                    #expect(slab.slot(delivery: earlier) == nil, "an earlier delivery of the same slot is no longer current")
                }
                previous[ticket.slot] = id
            }
        }
        // The ids of the other slots stayed current throughout.
        for ticket in tickets { #expect(slab.slot(delivery: previous[ticket.slot]!) == ticket.slot) }

        // A request waiting for an agent has no current delivery: its last id maps to nothing.
        let undelivered = previous[tickets[1].slot]!
        slab[tickets[1].slot].deliveryID = nil
        #expect(slab.slot(delivery: undelivered) == nil)

        // An id naming a slot past the end of the slab maps to nothing (and does not trap).
        #expect(slab.slot(delivery: (previous[tickets[0].slot]! >> 32) << 32 | 77) == nil)
        #expect(slab.slot(delivery: UInt64.max) == nil)
    }

    @Test("the delivery id of a request whose slot was freed, or reused by another request, maps to no slot")
    func staleDeliveryOfReusedSlot() throws {
        var slab = PendingSlab<TestPayload>(deliverySeed: 99)
        let first = slab.insert(Self.request("a", 1))
        let oldDelivery = Self.deliver(&slab, first.slot)
        #expect(slab.slot(delivery: oldDelivery) == first.slot)

        _ = slab.remove(first.slot)
        #expect(slab.slot(delivery: oldDelivery) == nil, "the request ended: its delivery is not current")

        let second = slab.insert(Self.request("b", 2))
        #expect(second.slot == first.slot)
        #expect(slab.slot(delivery: oldDelivery) == nil, "a new request in the slot, not yet delivered")
        let newDelivery = Self.deliver(&slab, second.slot)
        #expect(newDelivery != oldDelivery)
        #expect(UInt32(truncatingIfNeeded: newDelivery) == UInt32(truncatingIfNeeded: oldDelivery), "same slot in the low bits")
        #expect(slab.slot(delivery: oldDelivery) == nil, "the previous request's delivery must not reach the new request")
        #expect(slab.slot(delivery: newDelivery) == second.slot)
        #expect(slab[second.slot].key.requester == "b")
    }

    @Test("delivery ids of slabs with different seeds differ (a restarted broker does not reissue ids agents hold)")
    func seedsSeparateDeliveryIDs() {
        var one = PendingSlab<TestPayload>(deliverySeed: 0x0000_0001_0000_0000)
        var two = PendingSlab<TestPayload>(deliverySeed: 0x8000_0000_0000_0000)
        let slotOne = one.insert(Self.request("a", 1)).slot
        let slotTwo = two.insert(Self.request("a", 1)).slot
        let idsOne = (0..<100).map { _ in one.nextDeliveryID(for: slotOne) }
        let idsTwo = (0..<100).map { _ in two.nextDeliveryID(for: slotTwo) }
        #expect(Set(idsOne).isDisjoint(with: idsTwo))
        #expect(idsOne.allSatisfy { $0 >> 32 != 0 } && idsTwo.allSatisfy { $0 >> 32 != 0 })
    }

    @Test("the delivery sequence never hands out sequence 0, also when it wraps around")
    func sequenceWraps() {
        var slab = PendingSlab<TestPayload>(deliverySeed: 0xffff_fffd_0000_0000)
        let slot = slab.insert(Self.request("a", 1)).slot
        let ids = (0..<6).map { _ in slab.nextDeliveryID(for: slot) }
        #expect(ids.allSatisfy { $0 >> 32 != 0 && UInt32(truncatingIfNeeded: $0) == 0 })
        #expect(Set(ids).count == ids.count)
    }
}

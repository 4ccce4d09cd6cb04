/// Where a pending request is: its slot, and the slot's generation when the request took it. A timer or a parked
/// entry that outlived its request finds another generation there and is ignored.
struct PendingTicket: Hashable {
    let slot: Int32
    let generation: UInt32
}

/// The pending requests in a slab: slots reused through a free list, so that accepting and ending a request
/// allocates nothing once the slab has grown, and a request is found by its slot with one index.
///
/// A delivery id names its slot in the low 32 bits and a delivery sequence in the high 32 bits (random start, so a
/// restarted broker does not reuse the ids agents still hold): a REPLY is an index and a comparison.
struct PendingSlab<Payload: BrokerPayload> {
    /// Free slots hold a vacant request (no payload, empty strings): a value, not an optional, so that a request
    /// is read and changed in place without being copied.
    private var slots: [PendingRequest<Payload>] = []
    private var inUse: [Bool] = []
    private var generations: [UInt32] = []
    private var free: [Int32] = []
    private var deliverySequence: UInt32
    /// Requests held.
    private(set) var count = 0

    /// An empty slab whose delivery ids start at `deliverySeed`'s sequence.
    init(deliverySeed: UInt64) {
        deliverySequence = UInt32(truncatingIfNeeded: deliverySeed >> 32) | 1
    }

    /// Stores a request (moved in, not copied) and returns its ticket.
    mutating func insert(_ request: consuming PendingRequest<Payload>) -> PendingTicket {
        count += 1
        if let slot = free.popLast() {
            slots[Int(slot)] = consume request
            inUse[Int(slot)] = true
            generations[Int(slot)] &+= 1
            return PendingTicket(slot: slot, generation: generations[Int(slot)])
        }
        slots.append(consume request)
        inUse.append(true)
        generations.append(0)
        return PendingTicket(slot: Int32(slots.count - 1), generation: 0)
    }

    /// Takes the request out of its slot (moved out, not copied), which becomes free.
    @discardableResult
    mutating func remove(_ slot: Int32) -> PendingRequest<Payload>? {
        guard inUse[Int(slot)] else { return nil }
        var request = PendingRequest<Payload>.vacant
        swap(&request, &slots[Int(slot)])
        inUse[Int(slot)] = false
        free.append(slot)
        count -= 1
        return request
    }

    /// The request in an occupied slot, read or changed in place.
    subscript(slot: Int32) -> PendingRequest<Payload> {
        _read { yield slots[Int(slot)] }
        _modify { yield &slots[Int(slot)] }
    }

    /// The request a ticket names, if it still holds that slot.
    func request(_ ticket: PendingTicket) -> PendingRequest<Payload>? {
        guard Int(ticket.slot) < slots.count, inUse[Int(ticket.slot)], generations[Int(ticket.slot)] == ticket.generation else { return nil }
        return slots[Int(ticket.slot)]
    }

    /// The current ticket of an occupied slot.
    func ticket(_ slot: Int32) -> PendingTicket { PendingTicket(slot: slot, generation: generations[Int(slot)]) }

    /// A fresh delivery id for the request in `slot`.
    mutating func nextDeliveryID(for slot: Int32) -> UInt64 {
        deliverySequence &+= 1
        if deliverySequence == 0 { deliverySequence = 1 }
        return UInt64(deliverySequence) << 32 | UInt64(UInt32(bitPattern: slot))
    }

    /// The slot of the request whose current delivery is `deliveryID`, if that delivery is still current.
    func slot(delivery deliveryID: UInt64) -> Int32? {
        let slot = Int(UInt32(truncatingIfNeeded: deliveryID))
        guard slot < slots.count, slots[slot].deliveryID == deliveryID, inUse[slot] else { return nil }
        return Int32(slot)
    }

    /// Every occupied slot (for the rare passes over all requests: shutdown, snapshots, checks).
    var occupied: [Int32] { inUse.indices.compactMap { inUse[$0] ? Int32($0) : nil } }

    /// Whether `slot` holds a request.
    func isOccupied(_ slot: Int32) -> Bool { inUse[Int(slot)] }
}

import ParleyWire

/// Outcomes of finished requests, kept for a window (by age and by count) to answer retries.
struct OutcomeCache<Payload: BrokerPayload> {
    struct Entry {
        let status: Status
        let attempts: UInt8
        let body: Outbound<Payload>.Body
        let fingerprint: UInt64
        let finishedAt: UInt64
    }

    private var entries: [RequestKey: Entry] = [:]
    /// Keys in finishing order; `head` is the oldest still listed.
    private var order: [RequestKey] = []
    private var head = 0

    var count: Int { entries.count }

    func lookup(_ key: RequestKey) -> Entry? { entries[key] }

    mutating func insert(_ key: RequestKey, _ entry: Entry, capacity: Int) {
        guard capacity > 0 else { return }
        while entries.count >= capacity, head < order.count { evictOldest() }
        entries[key] = entry
        order.append(key)
    }

    /// Drops outcomes that finished before `cutoff`.
    mutating func expire(before cutoff: UInt64) {
        while head < order.count {
            guard let entry = entries[order[head]], entry.finishedAt >= cutoff else {
                evictOldest()
                continue
            }
            break
        }
    }

    private mutating func evictOldest() {
        entries[order[head]] = nil
        head += 1
        if head > 1024, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }
}

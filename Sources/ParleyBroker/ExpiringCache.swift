/// Values kept for a while after they were stored, bounded by age and by count (the oldest go first).
/// The broker's memory of finished requests and confirmed events, to answer retries and resends.
struct ExpiringCache<Key: Hashable, Value> {
    private var entries: [Key: (value: Value, storedAt: UInt64)] = [:]
    /// Keys in storing order; `head` is the oldest still listed.
    private var order: [Key] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { entries.count }

    func lookup(_ key: Key) -> Value? { entries[key]?.value }

    /// Stores `value` (nothing when the capacity is 0), evicting the oldest entries beyond the capacity.
    mutating func insert(_ key: Key, _ value: Value, now: UInt64) {
        guard capacity > 0 else { return }
        while entries.count >= capacity, head < order.count { evictOldest() }
        entries[key] = (value, now)
        order.append(key)
    }

    /// Drops the entries stored before `cutoff`.
    mutating func expire(before cutoff: UInt64) {
        while head < order.count {
            guard let entry = entries[order[head]], entry.storedAt >= cutoff else {
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

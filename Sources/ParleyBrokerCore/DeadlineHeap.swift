/// A binary min-heap of (time, key) pairs: the broker's timers.
///
/// Entries are never removed early; the owner checks on pop whether an entry still matters (lazy deletion).
struct DeadlineHeap<Key> {
    private var entries: [(time: UInt64, key: Key)] = []

    /// The earliest time, if any.
    var earliest: UInt64? { entries.first?.time }

    var count: Int { entries.count }

    mutating func insert(_ time: UInt64, _ key: Key) {
        entries.append((time, key))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].time < entries[parent].time else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    mutating func popDue(_ now: UInt64) -> Key? {
        guard let first = entries.first, first.time <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown()
        }
        return first.key
    }

    private mutating func siftDown() {
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].time < entries[smallest].time { smallest = left }
            if right < entries.count, entries[right].time < entries[smallest].time { smallest = right }
            if smallest == parent { return }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

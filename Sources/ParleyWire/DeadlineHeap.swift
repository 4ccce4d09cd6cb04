/// A binary min-heap of (time, key) pairs: the broker's and the agents' timers.
///
/// Entries are never removed early; the owner checks on pop whether an entry still matters (lazy deletion).
/// Inlinable, so that the cores get it specialised for their key types.
public struct DeadlineHeap<Key> {
    @usableFromInline var entries: [(time: UInt64, key: Key)] = []

    /// An empty heap.
    @inlinable public init() {}

    /// The earliest time, if any.
    @inlinable public var earliest: UInt64? { entries.first?.time }

    /// Entries held, stale ones included.
    @inlinable public var count: Int { entries.count }

    /// Removes every entry, keeping the storage.
    @inlinable public mutating func removeAll() { entries.removeAll(keepingCapacity: true) }

    /// Adds `key`, due at `time`.
    @inlinable public mutating func insert(_ time: UInt64, _ key: Key) {
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
    @inlinable public mutating func popDue(_ now: UInt64) -> Key? {
        guard let first = entries.first, first.time <= now else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown()
        }
        return first.key
    }

    @inlinable mutating func siftDown() {
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

/// A timer entry for swift-collections' `Heap` (the broker's and the agents' timers): ordered by `time` alone, the
/// `key` rides along. Entries are never removed early; the owner checks on pop whether an entry still matters.
public struct Due<Key>: Comparable {
    /// When it is due (monotonic milliseconds).
    public var time: UInt64
    /// What is due.
    public var key: Key

    @inlinable public init(_ time: UInt64, _ key: Key) {
        self.time = time
        self.key = key
    }

    @inlinable public static func < (left: Due, right: Due) -> Bool { left.time < right.time }

    /// Equal when due at the same time (what a heap compares), whatever the keys.
    @inlinable public static func == (left: Due, right: Due) -> Bool { left.time == right.time }
}

import CZeroMQ

/// Gives memory back to the system once the allocator holds much of it free: after a burst of large messages
/// (parked requests, answers to a peer that then went), glibc keeps the freed memory in its arenas and the
/// process's resident size stays at its peak. Checked now and then (a `mallinfo2` call), trimmed when over
/// `threshold` bytes are free.
public struct AllocatorTrim: Sendable {
    /// Free bytes in the arenas above which a check trims.
    public let threshold: Int
    /// Trims done so far.
    public private(set) var trims = 0

    public init(threshold: Int = 64 << 20) {
        self.threshold = threshold
    }

    /// Trims when the arenas hold more than `threshold` free bytes; returns whether it did.
    @discardableResult
    public mutating func check() -> Bool {
        guard parley_malloc_free_bytes() > threshold else { return false }
        parley_malloc_trim()
        trims += 1
        return true
    }
}

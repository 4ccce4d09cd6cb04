/// Values kept for a while after they were stored, bounded by age and by count: the broker's memory of
/// finished requests and confirmed events, to answer retries and resends.
///
/// Two generations instead of per-entry eviction: new values go into the current generation; when it holds
/// half the capacity (or half the byte budget), or has been open for the whole window, it becomes the previous one and the old
/// previous generation is dropped at once. So a value is kept at least `window` (or until `capacity / 2`
/// newer values arrived) and at most twice that, and storing one costs a single insertion into a table
/// small enough to stay in cache, not an insertion plus an eviction in a large one.
struct ExpiringCache<Key: Hashable, Value> {
    private var current: [Key: Value] = [:]
    private var previous: [Key: Value] = [:]
    private var currentOpenedAt: UInt64 = 0
    private var currentBytes = 0
    let capacity: Int
    let window: UInt64
    /// The most bytes (as the caller counts them) both generations hold together, roughly.
    let byteBudget: Int

    init(capacity: Int, window: UInt64 = .max, byteBudget: Int = .max) {
        self.capacity = capacity
        self.window = window
        self.byteBudget = byteBudget
    }

    var count: Int { current.count + previous.count }

    func lookup(_ key: Key) -> Value? { current[key] ?? previous[key] }

    /// Stores `value`, which holds `bytes` bytes (nothing when the capacity is 0).
    mutating func insert(_ key: Key, _ value: Value, now: UInt64, bytes: Int = 0) {
        guard capacity > 0 else { return }
        if current.count >= max(capacity / 2, 1) || currentBytes &+ bytes > byteBudget / 2 { rotate(now: now) }
        current[key] = value
        currentBytes &+= bytes
    }

    /// Drops a generation once it is older than the window.
    mutating func expire(now: UInt64) {
        if now &- currentOpenedAt >= window { rotate(now: now) }
    }

    private mutating func rotate(now: UInt64) {
        previous = current
        current = [:]
        currentBytes = 0
        current.reserveCapacity(capacity / 2)  // growing it in steps would rehash every entry again
        currentOpenedAt = now
    }
}

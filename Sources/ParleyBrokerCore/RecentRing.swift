/// What the broker remembers of recent work, by (agent id, random id): the outcomes of finished requests (to
/// answer retries) and the CONFIRMs of published events (to answer resends). A FIFO ring bounded by count, bytes
/// and age.
///
/// The oldest value leaves first, one at a time, so that storing one costs one eviction at most instead of freeing
/// a whole generation at once; the index finds a value by its key in O(1). A value's position is fixed from its
/// insert to its eviction (positions count modulo the capacity), so that the storage grows by appending, without
/// re-indexing what it holds: a broker that has just started does not stall while its memory of outcomes grows.
struct RecentRing<Value> {
    private struct Entry {
        let key: RequestKey
        /// The key's hash bits in the index, so that letting the entry go does not hash the key again.
        let tag: UInt32
        let value: Value
        let bytes: Int
        let finishedAt: UInt64
    }

    /// The most values kept.
    let capacity: Int
    /// How long a value is kept at most (milliseconds).
    let window: UInt64
    /// The most body bytes kept together.
    let byteBudget: Int
    /// Position `p` is `storage[p]`; the storage grows (by appending) until it covers the capacity.
    private var storage: [Entry?] = []
    /// The oldest value's position.
    private var head = 0
    /// Values kept now.
    private(set) var count = 0
    /// Their body bytes.
    private(set) var bytes = 0
    private var index: RequestIndex

    init(capacity: Int, window: UInt64 = .max, byteBudget: Int = .max, seed: UInt64) {
        self.capacity = capacity
        self.window = window
        self.byteBudget = byteBudget
        index = RequestIndex(seed: seed)
    }

    /// The value stored for `key`, if it is still kept.
    func lookup(_ key: RequestKey) -> Value? {
        position(of: key, tag: index.hashTag(of: key)).flatMap { storage[Int($0)]?.value }
    }

    /// Where `key` (whose hash bits are `tag`) is kept, if it is.
    private func position(of key: RequestKey, tag: UInt32) -> Int32? {
        index.value(tag: tag) { position in
            guard let entry = storage[Int(position)] else { return false }
            return entry.key.callbackID == key.callbackID && entry.key.requester == key.requester
        }
    }

    /// Keeps `value` (which holds `bytes` bytes), letting the oldest ones go as the bounds require. Nothing is kept
    /// when the capacity is 0 or the value alone exceeds the byte budget.
    mutating func insert(_ key: consuming RequestKey, _ value: consuming Value, now: UInt64, bytes size: Int = 0) {
        guard capacity > 0, size <= byteBudget else { return }
        while count > 0, count >= capacity || bytes + size > byteBudget { dropOldest() }
        let slot = (head + count) % capacity
        while slot >= storage.count { grow() }
        let tag = index.hashTag(of: key)
        if let older = position(of: key, tag: tag) {
            index.replace(tag: tag, value: older, with: Int32(slot))  // the newer answers; the older leaves in turn
        } else {
            index.insert(Int32(slot), tag: tag)
        }
        storage[slot] = Entry(key: key, tag: tag, value: value, bytes: size, finishedAt: now)
        count += 1
        bytes += size
    }

    /// Lets go of the values older than the window.
    mutating func expire(now: UInt64) {
        while count > 0, let oldest = storage[head], now &- oldest.finishedAt >= window { dropOldest() }
    }

    private mutating func dropOldest() {
        guard count > 0 else { return }
        var taken: Entry?
        swap(&taken, &storage[head])  // moved out, not copied
        guard let oldest = taken else { return }
        index.remove(tag: oldest.tag, value: Int32(head))
        head = (head + 1) % capacity
        count -= 1
        bytes -= oldest.bytes
    }

    /// Doubles the storage (up to the capacity) by appending empty positions: the entries keep their positions
    /// (the array moves them without retaining them), so nothing is re-indexed.
    private mutating func grow() {
        let more = min(max(storage.count, 64), capacity - storage.count)
        storage.append(contentsOf: repeatElement(nil, count: more))
    }
}

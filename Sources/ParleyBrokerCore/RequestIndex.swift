import ParleyWire

/// An open-addressing table from a request's key (requester id, callback id) to a small non-negative integer:
/// where the broker finds a pending request (its slot) or a remembered value in a ``RecentRing`` (its position).
///
/// Callback ids are random, so the table hashes the id's bits and the requester's id with a keyed mix instead of
/// running `Hasher` (SipHash); the mix is keyed with a per-broker seed, so a peer that chooses its ids (or registers
/// many agent ids sending one callback id) cannot aim them at one chain. Probing reads only a compact array of
/// 8-byte entries (31 bits of the hash and the value): with 100,000 outcomes remembered, a lookup of a new callback id — the common case — touches one
/// cache line of a 2 MiB array, and the keys, kept apart, are read only when the hash bits match. Linear probing,
/// at most half full, deletion by backward shift (no tombstones): every operation is O(1) on average.
struct RequestIndex {
    /// Per bucket: 0 when empty, else the tag (31 bits of the hash, then a 1) in the upper half, the value in the lower.
    private var entries: [UInt64]
    private var keys: [RequestKey?]
    private var mask: Int
    private let seed: UInt64
    /// How many keys are stored.
    private(set) var count = 0

    /// An empty table whose hash is keyed with `seed`.
    init(seed: UInt64, capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        entries = Array(repeating: 0, count: size)
        keys = Array(repeating: nil, count: size)
        mask = size - 1
        self.seed = seed
    }

    /// The keyed hash bits of `key`, for a caller that keeps them to find the key again without hashing it.
    func hashTag(of key: RequestKey) -> UInt32 { tag(of: key) }

    /// The value stored for `key`, if any.
    func value(for key: RequestKey) -> Int32? {
        bucket(holding: key, tag: tag(of: key)).map { Int32(truncatingIfNeeded: entries[$0]) }
    }

    /// Stores `value` for `key`, replacing what was there. `tag`, when given, is `hashTag(of: key)`.
    mutating func set(_ value: Int32, for key: RequestKey, tag: UInt32? = nil) {
        let low = UInt64(UInt32(bitPattern: value))
        let tag = tag ?? self.tag(of: key)
        if let index = bucket(holding: key, tag: tag) {
            entries[index] = entries[index] & ~0xffff_ffff | low
            return
        }
        if (count + 1) * 2 > entries.count { grow() }
        var index = Self.home(tag) & mask
        while entries[index] != 0 { index = (index + 1) & mask }
        entries[index] = UInt64(tag) << 32 | low
        keys[index] = key
        count += 1
    }

    /// Removes `key`; does nothing when it is absent, or when its value is not `expected` (if given). `tag`, when
    /// given, is `hashTag(of: key)`.
    mutating func remove(_ key: RequestKey, tag: UInt32? = nil, ifValue expected: Int32? = nil) {
        guard let index = bucket(holding: key, tag: tag ?? self.tag(of: key)) else { return }
        if let expected, Int32(truncatingIfNeeded: entries[index]) != expected { return }
        entries[index] = 0
        keys[index] = nil
        count -= 1
        // Backward shift: move later entries of the run into the hole when their home bucket allows it.
        var hole = index
        var next = (index + 1) & mask
        while entries[next] != 0 {
            let home = Self.home(UInt32(truncatingIfNeeded: entries[next] >> 32)) & mask
            if (next - home) & mask >= (next - hole) & mask {
                entries[hole] = entries[next]
                keys[hole] = keys[next]
                entries[next] = 0
                keys[next] = nil
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    /// Every key and its value, in no particular order (diagnostics and tests).
    var all: [(key: RequestKey, value: Int32)] {
        entries.indices.compactMap { index in
            entries[index] == 0 ? nil : (keys[index]!, Int32(truncatingIfNeeded: entries[index]))
        }
    }

    /// The bucket holding `key`, if any: keys are compared only where the stored hash bits match.
    private func bucket(holding key: RequestKey, tag: UInt32) -> Int? {
        var index = Self.home(tag) & mask
        while entries[index] != 0 {
            if UInt32(truncatingIfNeeded: entries[index] >> 32) == tag, let stored = keys[index],
               stored.callbackID == key.callbackID, stored.requester == key.requester {
                return index
            }
            index = (index + 1) & mask
        }
        return nil
    }

    /// 31 bits of the keyed mix of the callback id and a 1 (so that no stored entry is 0): the home bucket and the
    /// check before a key is compared.
    /// The requester's id is folded in too: otherwise many agents sending one chosen callback id would share one
    /// chain and every lookup of it would compare them all.
    private func tag(of key: RequestKey) -> UInt32 {
        var requester = seed ^ 0xcbf2_9ce4_8422_2325
        // Over the id's stored bytes (native strings are contiguous): iterating `utf8` cost about 100 instructions a byte.
        let hashedInPlace: Void? = key.requester.utf8.withContiguousStorageIfAvailable { bytes in
            for byte in bytes { requester = (requester ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }
        if hashedInPlace == nil {
            for byte in key.requester.utf8 { requester = (requester ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
        }
        let mixed = Self.mix(key.callbackID.low ^ seed) ^ Self.mix(key.callbackID.high &+ seed) ^ Self.mix(requester)
        return UInt32(truncatingIfNeeded: mixed >> 32) | 1
    }

    /// Where a tag's probe starts (before masking).
    private static func home(_ tag: UInt32) -> Int { Int(tag >> 1) }

    /// MurmurHash3's 64-bit finaliser: every input bit flips about half of the output bits.
    private static func mix(_ value: UInt64) -> UInt64 {
        var x = value
        x ^= x >> 33
        x &*= 0xff51_afd7_ed55_8ccd
        x ^= x >> 33
        x &*= 0xc4ce_b9fe_1a85_ec53
        x ^= x >> 33
        return x
    }

    /// Doubles the table; entries move by their stored hash bits, without reading the keys' hashes again, and the
    /// keys are moved, not copied (no retain and release of every requester id: growing must not stall the broker).
    private mutating func grow() {
        var oldEntries: [UInt64] = []
        var oldKeys: [RequestKey?] = []
        swap(&oldEntries, &entries)
        swap(&oldKeys, &keys)
        var grownEntries = [UInt64](repeating: 0, count: oldEntries.count * 2)
        var grownKeys = [RequestKey?](repeating: nil, count: oldEntries.count * 2)
        let grownMask = grownEntries.count - 1
        oldKeys.withUnsafeMutableBufferPointer { old in
            grownKeys.withUnsafeMutableBufferPointer { grown in
                for slot in oldEntries.indices where oldEntries[slot] != 0 {
                    var index = Self.home(UInt32(truncatingIfNeeded: oldEntries[slot] >> 32)) & grownMask
                    while grownEntries[index] != 0 { index = (index + 1) & grownMask }
                    grownEntries[index] = oldEntries[slot]
                    swap(&grown[index], &old[slot])
                }
            }
        }
        entries = grownEntries
        keys = grownKeys
        mask = grownMask
    }
}

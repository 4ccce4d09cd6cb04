import ParleyWire

/// An open-addressing table from a request's key (requester id, callback id) to a small non-negative integer:
/// where the broker keeps the request (its slot in the ``PendingSlab``) or a remembered value (its position in a
/// ``RecentRing``). The table holds no keys: the owner already keeps each key where the value points, and answers
/// whether the key there is the one looked for. So a bucket is 8 bytes (31 bits of the key's hash and the value)
/// and growing the table moves integers only.
///
/// Callback ids are random, so the table hashes the id's bits and the requester's id with a keyed mix instead of
/// running `Hasher` (SipHash); the mix is keyed with a per-broker seed, so a peer that chooses its ids (or registers
/// many agent ids sending one callback id) cannot aim them at one chain. With 100,000 outcomes remembered, a lookup
/// of a new callback id — the common case — touches one cache line of a 2 MiB array, and the owner's key is read
/// only when the hash bits match. Linear probing, at most half full, deletion by backward shift (no tombstones):
/// every operation is O(1) on average. Values are unique: one value names one key.
struct RequestIndex {
    /// Per bucket: 0 when empty, else the tag (31 bits of the hash, then a 1) in the upper half, the value in the lower.
    private var entries: [UInt64]
    private var mask: Int
    private let seed: UInt64
    /// How many keys are stored.
    private(set) var count = 0

    /// An empty table for `capacity` keys before it first grows, whose hash is keyed with `seed`.
    init(seed: UInt64, capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        entries = Array(repeating: 0, count: size)
        mask = size - 1
        self.seed = seed
    }

    /// The keyed hash bits of `key`: what every other operation takes to find it.
    func hashTag(of key: RequestKey) -> UInt32 { tag(of: key) }

    /// The value stored with `tag` whose key `isKey` recognises (the owner compares the key it keeps for the value).
    func value(tag: UInt32, where isKey: (Int32) -> Bool) -> Int32? {
        var index = Self.home(tag) & mask
        while entries[index] != 0 {
            if UInt32(truncatingIfNeeded: entries[index] >> 32) == tag {
                let value = Int32(truncatingIfNeeded: entries[index])
                if isKey(value) { return value }
            }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Stores `value` for a key with `tag` that is not in the table (the owner looked it up first).
    mutating func insert(_ value: Int32, tag: UInt32) {
        if (count + 1) * 2 > entries.count { grow() }
        var index = Self.home(tag) & mask
        while entries[index] != 0 { index = (index + 1) & mask }
        entries[index] = Self.entry(tag, value)
        count += 1
    }

    /// Points the key stored with `tag` and `old` at `new` instead; nothing when there is none.
    mutating func replace(tag: UInt32, value old: Int32, with new: Int32) {
        guard let index = bucket(tag: tag, value: old) else { return }
        entries[index] = Self.entry(tag, new)
    }

    /// Removes the key stored with `tag` and `value`; nothing when there is none.
    mutating func remove(tag: UInt32, value: Int32) {
        guard let index = bucket(tag: tag, value: value) else { return }
        entries[index] = 0
        count -= 1
        // Backward shift: move later entries of the run into the hole when their home bucket allows it.
        var hole = index
        var next = (index + 1) & mask
        while entries[next] != 0 {
            let home = Self.home(UInt32(truncatingIfNeeded: entries[next] >> 32)) & mask
            if (next - home) & mask >= (next - hole) & mask {
                entries[hole] = entries[next]
                entries[next] = 0
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    /// Every stored tag and value, in no particular order (diagnostics and tests).
    var all: [(tag: UInt32, value: Int32)] {
        entries.compactMap { $0 == 0 ? nil : (UInt32(truncatingIfNeeded: $0 >> 32), Int32(truncatingIfNeeded: $0)) }
    }

    /// The bucket holding exactly `tag` and `value`, if any.
    private func bucket(tag: UInt32, value: Int32) -> Int? {
        let wanted = Self.entry(tag, value)
        var index = Self.home(tag) & mask
        while entries[index] != 0 {
            if entries[index] == wanted { return index }
            index = (index + 1) & mask
        }
        return nil
    }

    private static func entry(_ tag: UInt32, _ value: Int32) -> UInt64 {
        UInt64(tag) << 32 | UInt64(UInt32(bitPattern: value))
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

    /// Doubles the table; entries move by their stored hash bits, without reading any key.
    private mutating func grow() {
        let old = entries
        entries = Array(repeating: 0, count: old.count * 2)
        mask = entries.count - 1
        for entry in old where entry != 0 {
            var index = Self.home(UInt32(truncatingIfNeeded: entry >> 32)) & mask
            while entries[index] != 0 { index = (index + 1) & mask }
            entries[index] = entry
        }
    }
}

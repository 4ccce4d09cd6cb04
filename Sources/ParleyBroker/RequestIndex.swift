import ParleyWire

/// An open-addressing table from a request's key (requester id, callback id) to a small integer: where the
/// broker finds a pending request (its slot) or a finished one's outcome (its place in the ring).
///
/// Callback ids are random, so the table hashes the id's bits with a keyed mix instead of running `Hasher`
/// (SipHash) over the requester's id string; the string is only compared on a match. The mix is keyed with a
/// per-broker seed, so a peer that chooses its ids cannot aim them at one chain. Linear probing, at most half
/// full, deletion by backward shift (no tombstones): every operation is O(1) on average.
struct RequestIndex {
    private struct Entry {
        let key: RequestKey
        let value: Int32
    }

    private var entries: [Entry?]
    private var mask: Int
    private let seed: UInt64
    /// How many keys are stored.
    private(set) var count = 0

    /// An empty table whose hash is keyed with `seed`.
    init(seed: UInt64, capacity: Int = 16) {
        var size = 16
        while size < capacity * 2 { size *= 2 }
        entries = Array(repeating: nil, count: size)
        mask = size - 1
        self.seed = seed
    }

    /// The value stored for `key`, if any.
    func value(for key: RequestKey) -> Int32? {
        var index = bucket(of: key)
        while let entry = entries[index] {
            if entry.key.callbackID == key.callbackID, entry.key.requester == key.requester { return entry.value }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Stores `value` for `key`, replacing what was there.
    mutating func set(_ value: Int32, for key: RequestKey) {
        if (count + 1) * 2 > entries.count { grow() }
        var index = bucket(of: key)
        while let entry = entries[index] {
            if entry.key.callbackID == key.callbackID, entry.key.requester == key.requester {
                entries[index] = Entry(key: key, value: value)
                return
            }
            index = (index + 1) & mask
        }
        entries[index] = Entry(key: key, value: value)
        count += 1
    }

    /// Removes `key`; does nothing when it is absent.
    mutating func remove(_ key: RequestKey) {
        var index = bucket(of: key)
        while let entry = entries[index] {
            if entry.key.callbackID == key.callbackID, entry.key.requester == key.requester { break }
            index = (index + 1) & mask
        }
        guard entries[index] != nil else { return }
        entries[index] = nil
        count -= 1
        // Backward shift: move later entries of the run into the hole when their home bucket allows it.
        var hole = index
        var next = (index + 1) & mask
        while let entry = entries[next] {
            let home = bucket(of: entry.key)
            if (next - home) & mask >= (next - hole) & mask {
                entries[hole] = entry
                entries[next] = nil
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    /// Every key and its value, in no particular order (diagnostics and tests).
    var all: [(key: RequestKey, value: Int32)] { entries.compactMap { $0.map { ($0.key, $0.value) } } }

    private func bucket(of key: RequestKey) -> Int {
        let mixed = Self.mix(key.callbackID.low ^ seed) ^ Self.mix(key.callbackID.high &+ seed)
        return Int(truncatingIfNeeded: mixed) & mask
    }

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

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: nil, count: old.count * 2)
        mask = entries.count - 1
        count = 0
        for case let entry? in old { set(entry.value, for: entry.key) }
    }
}

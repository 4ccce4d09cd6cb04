@testable import ParleyBrokerCore
import ParleyWire
import Testing

/// A ``RequestIndex`` with the keys kept beside it by value, as its owners keep them (the pending slab by slot, the
/// recent ring by position): the key-based view the tests below check against a dictionary.
private struct KeyedIndex {
    var index: RequestIndex
    var keys: [Int32: RequestKey] = [:]

    init(seed: UInt64, capacity: Int = 16) { index = RequestIndex(seed: seed, capacity: capacity) }

    var count: Int { index.count }

    func value(for key: RequestKey) -> Int32? { index.value(tag: index.hashTag(of: key)) { keys[$0] == key } }

    /// Stores `value` (not used for another key) for `key`, replacing the key's value if it has one.
    mutating func set(_ value: Int32, for key: RequestKey) {
        let tag = index.hashTag(of: key)
        if let old = self.value(for: key) {
            index.replace(tag: tag, value: old, with: value)
            keys[old] = nil
        } else {
            index.insert(value, tag: tag)
        }
        keys[value] = key
    }

    mutating func remove(_ key: RequestKey) {
        guard let value = value(for: key) else { return }
        index.remove(tag: index.hashTag(of: key), value: value)
        keys[value] = nil
    }

    var all: [(key: RequestKey, value: Int32)] { index.all.map { (keys[$0.value]!, $0.value) } }
}

@Suite("The request index (open addressing, backward-shift deletion) agrees with a dictionary")
struct RequestIndexTests {
    private static let requesters = ["asker", "gateway", "w1", "a-much-longer-requester-name-0123456789"]

    /// Checks that `index` holds exactly `model`: count, every key's value, and the listing.
    private static func expectSame(_ index: KeyedIndex, _ model: [RequestKey: Int32], _ context: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(index.count == model.count, "count (\(context))", sourceLocation: sourceLocation)
        var missing = 0
        for (key, value) in model where index.value(for: key) != value { missing += 1 }
        #expect(missing == 0, "\(missing) keys not found with their value (\(context))", sourceLocation: sourceLocation)
        let listed = index.all
        #expect(listed.count == model.count, "listing size (\(context))", sourceLocation: sourceLocation)
        #expect(listed.allSatisfy { model[$0.key] == $0.value }, "listing agrees (\(context))", sourceLocation: sourceLocation)
    }

    @Test("50,000 keys set, replaced, looked up and removed in random order agree with a Dictionary throughout")
    func randomAgainstModel() {
        var random = SeededGenerator(seed: 0x1dec_0de5)
        var index = KeyedIndex(seed: random.next())
        var model: [RequestKey: Int32] = [:]
        // The keys present, for picking one at random; `position` finds a key's place in `present` for removal.
        var present: [RequestKey] = []
        var position: [RequestKey: Int] = [:]
        var callbackIDs: [CallbackID] = []

        func freshKey() -> RequestKey {
            // Often a callback id already used by another requester: those keys share a home bucket.
            let callbackID = !callbackIDs.isEmpty && random.next() % 3 == 0
                ? callbackIDs[Int(random.next() % UInt64(callbackIDs.count))] : random.callbackID()
            if callbackIDs.count < 20_000 { callbackIDs.append(callbackID) }
            return RequestKey(requester: Self.requesters[Int(random.next() % UInt64(Self.requesters.count))], callbackID: callbackID)
        }
        func randomPresent() -> RequestKey? { present.isEmpty ? nil : present[Int(random.next() % UInt64(present.count))] }
        // Values are unique, as slots and positions are: one value names one key.
        var lastValue: Int32 = -1
        func nextValue() -> Int32 {
            lastValue += 1
            return lastValue
        }

        var operations = 0
        var removals = 0
        var maxCount = 0
        // Grow to 50,000 keys with removals mixed in, then shrink to nothing.
        for phase in 0..<2 {
            while phase == 0 ? model.count < 50_000 : !model.isEmpty {
                operations += 1
                let roll = random.next() % 100
                let removeShare: UInt64 = phase == 0 ? 30 : 75
                if roll < removeShare, let key = randomPresent() {
                    index.remove(key)
                    model[key] = nil
                    let at = position.removeValue(forKey: key)!
                    let last = present.removeLast()
                    if at < present.count {
                        present[at] = last
                        position[last] = at
                    }
                    removals += 1
                    #expect(index.value(for: key) == nil, "removed key still found (operation \(operations))")
                } else if roll < removeShare + 10, let key = randomPresent() {
                    let value = nextValue()
                    index.set(value, for: key)  // replace
                    model[key] = value
                } else if roll < removeShare + 15 {
                    // Removing an absent key (possibly sharing a callback id with present ones) changes nothing.
                    let key = freshKey()
                    if model[key] == nil {
                        index.remove(key)
                        #expect(index.value(for: key) == nil)
                    }
                } else {
                    let key = freshKey()
                    let value = nextValue()
                    if model[key] == nil {
                        position[key] = present.count
                        present.append(key)
                    }
                    index.set(value, for: key)
                    model[key] = value
                    #expect(index.value(for: key) == value)
                }
                maxCount = max(maxCount, model.count)
                // Every few operations: the count and a sample of present and absent keys.
                if operations % 8 == 0 {
                    #expect(index.count == model.count, "count after operation \(operations)")
                    for _ in 0..<4 {
                        if let key = randomPresent() { #expect(index.value(for: key) == model[key], "operation \(operations)") }
                    }
                    let absent = RequestKey(requester: "nobody", callbackID: random.callbackID())
                    #expect(index.value(for: absent) == nil)
                }
                // Now and then: everything.
                if operations % 20_000 == 0 { Self.expectSame(index, model, "operation \(operations)") }
            }
            Self.expectSame(index, model, "end of phase \(phase)")
        }
        #expect(maxCount >= 50_000)
        #expect(removals > 40_000)
        #expect(index.count == 0 && index.all.isEmpty)
    }

    @Test("removing a key from the middle of a probe run (keys sharing a callback id) keeps every other key findable")
    func backwardShiftInRuns() {
        var random = SeededGenerator(seed: 77)
        var trials = 0
        for _ in 0..<300 {
            // 8 keys in a table of 16 buckets: the largest load before it grows. Runs of 3 keys share one home bucket
            // (the hash reads only the callback id), and the other keys land in and around them.
            var index = KeyedIndex(seed: random.next(), capacity: 4)
            var keys: [RequestKey] = []
            for _ in 0..<2 {
                let shared = random.callbackID()
                for requester in Self.requesters.prefix(3) { keys.append(RequestKey(requester: requester, callbackID: shared)) }
            }
            keys.append(RequestKey(requester: "asker", callbackID: random.callbackID()))
            keys.append(RequestKey(requester: "w1", callbackID: random.callbackID()))
            keys.shuffle(using: &random)
            for (value, key) in keys.enumerated() { index.set(Int32(value), for: key) }
            let model = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, Int32($0)) })
            Self.expectSame(index, model, "filled")

            // Remove each key alone from a copy of the full table, then every order of removal for two of them.
            for key in keys {
                var copy = index
                copy.remove(key)
                var rest = model
                rest[key] = nil
                Self.expectSame(copy, rest, "without \(key.requester)/\(key.callbackID)")
                // And put back: found again, nothing else disturbed.
                copy.set(99, for: key)
                rest[key] = 99
                Self.expectSame(copy, rest, "re-set \(key.requester)/\(key.callbackID)")
                trials += 1
            }
            // Remove them all in a random order, checking after each.
            var copy = index
            var rest = model
            for key in keys.shuffled(using: &random) {
                copy.remove(key)
                rest[key] = nil
                Self.expectSame(copy, rest, "draining")
            }
        }
        #expect(trials == 300 * 8)
    }

    @Test("a long run of one callback id across many requesters: removing any member keeps the rest, wrapping the table end")
    func longRunOfOneCallbackID() {
        let shared = CallbackID(high: 0xabad_1dea, low: 0x0bad_cafe)
        // 200 keys with one home bucket in a table that grows to 512 buckets: a run wraps past the end of the table
        // when its home bucket is among the last 200, so over 8 seeds some runs wrap and some do not.
        for seed in 0..<UInt64(8) {
            var index = KeyedIndex(seed: seed &* 0x9e37_79b9_7f4a_7c15)
            let keys = (0..<200).map { RequestKey(requester: "r\($0)", callbackID: shared) }
            for (value, key) in keys.enumerated() { index.set(Int32(value), for: key) }
            var model = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, Int32($0)) })
            Self.expectSame(index, model, "seed \(seed) filled")
            // Remove from the middle, then the front, then the back of the run.
            for position in [100, 0, 199, 50, 150, 1, 198] {
                index.remove(keys[position])
                model[keys[position]] = nil
                Self.expectSame(index, model, "seed \(seed) without r\(position)")
            }
            // An absent requester with the same callback id walks the whole run and finds nothing.
            #expect(index.value(for: RequestKey(requester: "r200", callbackID: shared)) == nil)
            index.remove(RequestKey(requester: "r200", callbackID: shared))
            Self.expectSame(index, model, "seed \(seed) after removing an absent key")
        }
    }

    @Test("growth keeps every key and value, from the smallest table to 100,000 keys")
    func growthKeepsEverything() {
        var random = SeededGenerator(seed: 2_024)
        var index = KeyedIndex(seed: random.next())
        var model: [RequestKey: Int32] = [:]
        var keys: [RequestKey] = []
        for value in 0..<100_000 {
            let key = RequestKey(requester: Self.requesters[value % Self.requesters.count], callbackID: random.callbackID())
            keys.append(key)
            index.set(Int32(value), for: key)
            model[key] = Int32(value)
            // Right after each doubling (and just before): everything inserted so far.
            if value.nonzeroBitCount == 1 || (value + 1).nonzeroBitCount == 1 && value > 4 {
                var lost = 0
                for (stored, key) in keys.enumerated() where index.value(for: key) != Int32(stored) { lost += 1 }
                #expect(lost == 0, "\(lost) keys lost at \(value + 1) keys")
                #expect(index.count == value + 1)
            }
        }
        Self.expectSame(index, model, "100,000 keys")
    }

    @Test("set replaces the value of a present key without adding one; keys differing only by requester are distinct")
    func replaceAndDistinctRequesters() {
        var index = KeyedIndex(seed: 5)
        let id = CallbackID(high: 1, low: 2)
        let a = RequestKey(requester: "a", callbackID: id)
        let b = RequestKey(requester: "b", callbackID: id)
        let c = RequestKey(requester: "a", callbackID: CallbackID(high: 2, low: 1))
        index.set(1, for: a)
        index.set(2, for: b)
        index.set(3, for: c)
        index.set(4, for: a)
        #expect(index.count == 3)
        #expect(index.value(for: a) == 4 && index.value(for: b) == 2 && index.value(for: c) == 3)
        index.remove(a)
        #expect(index.value(for: a) == nil && index.value(for: b) == 2 && index.value(for: c) == 3)
        index.remove(a)
        #expect(index.count == 2)
        index.remove(b)
        index.remove(c)
        #expect(index.count == 0)
        #expect(index.value(for: b) == nil && index.value(for: c) == nil)
        // The all-zero callback id is a key like any other.
        let zero = RequestKey(requester: "", callbackID: .none)
        index.set(0, for: zero)
        #expect(index.value(for: zero) == 0 && index.count == 1)
    }
}

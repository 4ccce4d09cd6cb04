@testable import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Finished outcomes in a FIFO ring bounded by count, bytes and age")
struct RecentRingTests {
    private typealias Ring = RecentRing<CachedOutcome<TestPayload>>

    private static func key(_ number: Int, _ requester: String = "asker") -> RequestKey {
        RequestKey(requester: requester, callbackID: CallbackID(high: 0xfeed, low: UInt64(number)))
    }

    /// An outcome told apart by its fingerprint.
    private static func outcome(_ tag: UInt64, status: Status = .ok) -> CachedOutcome<TestPayload> {
        CachedOutcome(status: status, attempts: 1, body: .text("outcome \(tag)"), fingerprint: tag)
    }

    /// The tag (fingerprint) of the outcome kept for `number`, if any.
    private static func tag(_ ring: Ring, _ number: Int, _ requester: String = "asker") -> UInt64? {
        ring.lookup(key(number, requester))?.fingerprint
    }

    @Test("capacity 3: the fourth outcome drops the oldest; the others stay")
    func evictionByCount() {
        var ring = Ring(capacity: 3, seed: 1)
        for number in 1...3 { ring.insert(Self.key(number), Self.outcome(UInt64(number)), now: 10, bytes: 1) }
        #expect(ring.count == 3 && ring.bytes == 3)
        #expect((1...3).map { Self.tag(ring, $0) } == [1, 2, 3])

        ring.insert(Self.key(4), Self.outcome(4), now: 11, bytes: 1)
        #expect(ring.count == 3)
        #expect(ring.bytes == 3)
        #expect(Self.tag(ring, 1) == nil)
        #expect(Self.tag(ring, 2) == 2 && Self.tag(ring, 3) == 3 && Self.tag(ring, 4) == 4)

        ring.insert(Self.key(5), Self.outcome(5), now: 12, bytes: 1)
        #expect(Self.tag(ring, 2) == nil)
        #expect([3, 4, 5].map { Self.tag(ring, $0) } == [3, 4, 5])
        #expect(ring.lookup(Self.key(3))?.status == .ok)
        #expect(ring.lookup(Self.key(3))?.attempts == 1)
        if case .text(let text)? = ring.lookup(Self.key(4))?.body {
            #expect(text == "outcome 4")
        } else {
            Issue.record("the body of outcome 4 was not kept")
        }
    }

    @Test("byte budget 100: 60 then 60 drops the first; the bytes held follow")
    func evictionByBytes() {
        var ring = Ring(capacity: 100, byteBudget: 100, seed: 2)
        ring.insert(Self.key(1), Self.outcome(1), now: 0, bytes: 60)
        #expect(ring.bytes == 60 && ring.count == 1)
        ring.insert(Self.key(2), Self.outcome(2), now: 0, bytes: 60)
        #expect(Self.tag(ring, 1) == nil)
        #expect(Self.tag(ring, 2) == 2)
        #expect(ring.bytes == 60 && ring.count == 1)

        // Exactly the budget fits; as many oldest as needed leave, and no more.
        ring.insert(Self.key(3), Self.outcome(3), now: 0, bytes: 10)
        ring.insert(Self.key(4), Self.outcome(4), now: 0, bytes: 30)
        #expect(ring.bytes == 100 && ring.count == 3)
        ring.insert(Self.key(5), Self.outcome(5), now: 0, bytes: 65)  // 2 (60) and 3 (10) must go: 30 + 65 = 95
        #expect(Self.tag(ring, 2) == nil && Self.tag(ring, 3) == nil)
        #expect(Self.tag(ring, 4) == 4 && Self.tag(ring, 5) == 5)
        #expect(ring.bytes == 95 && ring.count == 2)
        // Empty outcomes cost no bytes and are bounded by count alone.
        for number in 6..<16 { ring.insert(Self.key(number), Self.outcome(UInt64(number)), now: 0, bytes: 0) }
        #expect(ring.bytes == 95 && ring.count == 12)
        #expect(Self.tag(ring, 4) == 4)
    }

    @Test("an outcome bigger than the byte budget is not kept, and drops nothing")
    func oversizedOutcomeNotKept() {
        var ring = Ring(capacity: 10, byteBudget: 100, seed: 3)
        ring.insert(Self.key(1), Self.outcome(1), now: 0, bytes: 40)
        ring.insert(Self.key(2), Self.outcome(2), now: 0, bytes: 101)
        #expect(Self.tag(ring, 2) == nil)
        #expect(Self.tag(ring, 1) == 1)
        #expect(ring.count == 1 && ring.bytes == 40)
        ring.insert(Self.key(3), Self.outcome(3), now: 0, bytes: 100)  // exactly the budget: kept, alone
        #expect(Self.tag(ring, 3) == 3 && Self.tag(ring, 1) == nil)
        #expect(ring.count == 1 && ring.bytes == 100)

        var none = Ring(capacity: 0, seed: 4)
        none.insert(Self.key(1), Self.outcome(1), now: 0, bytes: 0)
        #expect(none.lookup(Self.key(1)) == nil && none.count == 0)
    }

    @Test("expiry drops the outcomes older than the window, and only those")
    func expiryByWindow() {
        var ring = Ring(capacity: 100, window: 1_000, seed: 5)
        ring.insert(Self.key(1), Self.outcome(1), now: 100, bytes: 5)
        ring.insert(Self.key(2), Self.outcome(2), now: 600, bytes: 7)
        ring.insert(Self.key(3), Self.outcome(3), now: 1_200, bytes: 11)
        ring.expire(now: 1_050)  // the oldest is 950 ms old
        #expect(ring.count == 3)
        ring.expire(now: 1_101)  // ages 1,001, 501
        #expect(Self.tag(ring, 1) == nil)
        #expect(Self.tag(ring, 2) == 2 && Self.tag(ring, 3) == 3)
        #expect(ring.count == 2 && ring.bytes == 18)
        ring.expire(now: 1_599)  // age 999: still within the window
        #expect(Self.tag(ring, 2) == 2)
        ring.expire(now: 1_601)
        #expect(Self.tag(ring, 2) == nil && Self.tag(ring, 3) == 3)
        #expect(ring.count == 1 && ring.bytes == 11)
        ring.expire(now: 5_000)
        #expect(ring.count == 0 && ring.bytes == 0 && Self.tag(ring, 3) == nil)
        // An emptied ring takes outcomes again.
        ring.insert(Self.key(4), Self.outcome(4), now: 5_000, bytes: 1)
        #expect(Self.tag(ring, 4) == 4 && ring.count == 1)
    }

    @Test("capacity 1,000 and 10,000 inserts: growth and wrap-around keep exactly the last 1,000")
    func growthAndWrapAround() {
        var ring = Ring(capacity: 1_000, seed: 6)
        for number in 0..<10_000 {
            ring.insert(Self.key(number), Self.outcome(UInt64(number)), now: UInt64(number), bytes: 3)
            // While it grows (64, 128, …, 1,000) and once it wraps: the newest kept, the one just dropped gone.
            if number % 97 == 0 || (number < 1_100 && number.nonzeroBitCount <= 2) {
                #expect(Self.tag(ring, number) == UInt64(number), "newest after \(number + 1) inserts")
                #expect(Self.tag(ring, max(0, number - 999)) == UInt64(max(0, number - 999)), "oldest kept after \(number + 1) inserts")
                if number >= 1_000 { #expect(Self.tag(ring, number - 1_000) == nil, "after \(number + 1) inserts") }
                #expect(ring.count == min(number + 1, 1_000))
            }
        }
        #expect(ring.count == 1_000 && ring.bytes == 3_000)
        var wrong = 0
        for number in 0..<10_000 {
            let expected: UInt64? = number >= 9_000 ? UInt64(number) : nil
            if Self.tag(ring, number) != expected { wrong += 1 }
        }
        #expect(wrong == 0, "\(wrong) of 10,000 lookups wrong")
    }

    @Test("growth after byte evictions moved the oldest off position 0 keeps every kept outcome, in order")
    func growthWithWrappedStorage() {
        var ring = Ring(capacity: 1_000, byteBudget: 100, seed: 7)
        for number in 0..<64 { ring.insert(Self.key(number), Self.outcome(UInt64(number)), now: 0, bytes: 1) }
        ring.insert(Self.key(64), Self.outcome(64), now: 0, bytes: 40)  // 0...3 leave: 60 + 40 = 100
        #expect(ring.count == 61 && ring.bytes == 100)
        #expect((0..<4).allSatisfy { Self.tag(ring, $0) == nil })
        // Empty outcomes until far past the first storage's size: it grows while its oldest is not at position 0.
        for number in 65..<400 { ring.insert(Self.key(number), Self.outcome(UInt64(number)), now: 0, bytes: 0) }
        #expect(ring.count == 396)
        var wrong = 0
        for number in 0..<400 where Self.tag(ring, number) != (number < 4 ? nil : UInt64(number)) { wrong += 1 }
        #expect(wrong == 0)
        // Eviction order survived the growth: the next byte eviction drops 4, 5, … in turn.
        ring.insert(Self.key(400), Self.outcome(400), now: 0, bytes: 3)  // 4, 5, 6 (1 byte each) leave
        #expect((4..<7).allSatisfy { Self.tag(ring, $0) == nil })
        #expect(Self.tag(ring, 7) == 7 && Self.tag(ring, 400) == 400)
        #expect(ring.bytes == 100)
    }

    @Test("a key evicted and inserted again is found with its new outcome; a key stored twice answers with the newer")
    func reinsertAfterEviction() {
        var ring = Ring(capacity: 3, seed: 8)
        for number in 1...4 { ring.insert(Self.key(number), Self.outcome(UInt64(number)), now: 0, bytes: 1) }
        #expect(Self.tag(ring, 1) == nil)
        ring.insert(Self.key(1), Self.outcome(101), now: 0, bytes: 1)  // evicts 2
        #expect(Self.tag(ring, 1) == 101)
        #expect(Self.tag(ring, 2) == nil && Self.tag(ring, 3) == 3 && Self.tag(ring, 4) == 4)

        // Stored again while still kept: the newer outcome answers, and the older copy leaving does not unindex it.
        ring.insert(Self.key(3), Self.outcome(103), now: 0, bytes: 1)  // evicts 3's first copy
        #expect(Self.tag(ring, 3) == 103)
        ring.insert(Self.key(5), Self.outcome(5), now: 0, bytes: 1)  // evicts 4
        #expect(Self.tag(ring, 3) == 103 && Self.tag(ring, 1) == 101 && Self.tag(ring, 5) == 5)
        #expect(Self.tag(ring, 4) == nil)
        #expect(ring.count == 3)

        var other = Ring(capacity: 5, seed: 9)
        other.insert(Self.key(1), Self.outcome(1), now: 0, bytes: 1)
        other.insert(Self.key(1), Self.outcome(2), now: 0, bytes: 1)
        other.insert(Self.key(2), Self.outcome(3), now: 0, bytes: 1)
        other.insert(Self.key(3), Self.outcome(4), now: 0, bytes: 1)
        other.insert(Self.key(4), Self.outcome(5), now: 0, bytes: 1)
        other.insert(Self.key(5), Self.outcome(6), now: 0, bytes: 1)  // evicts the older copy of 1
        #expect(Self.tag(other, 1) == 2)
        other.insert(Self.key(6), Self.outcome(7), now: 0, bytes: 1)  // evicts the newer copy of 1
        #expect(Self.tag(other, 1) == nil)
    }

    @Test("random inserts, sizes, key reuse across requesters and expiry agree with a simple FIFO model")
    func randomAgainstModel() {
        struct Kept {
            let key: RequestKey
            let tag: UInt64
            let bytes: Int
            let finishedAt: UInt64
        }
        var random = SeededGenerator(seed: 0x0c7c_0e5)
        let capacity = 300
        let budget = 5_000
        let window: UInt64 = 2_000
        var ring = Ring(capacity: capacity, window: window, byteBudget: budget, seed: random.next())
        var model: [Kept] = []  // oldest first
        var now: UInt64 = 1_000
        var tag: UInt64 = 0
        let requesters = ["asker", "gateway", "w1"]
        let numbers = 600

        func modelLookup(_ key: RequestKey) -> UInt64? { model.last { $0.key == key }?.tag }

        for step in 0..<30_000 {
            let roll = random.next() % 100
            if roll < 85 {
                tag += 1
                let key = Self.key(Int(random.next() % UInt64(numbers)), requesters[Int(random.next() % 3)])
                let size = roll < 5 ? Int(random.next() % 6_000) : Int(random.next() % 60)
                ring.insert(key, Self.outcome(tag), now: now, bytes: size)
                if size <= budget {
                    while model.count >= capacity || model.reduce(0, { $0 + $1.bytes }) + size > budget { model.removeFirst() }
                    model.append(Kept(key: key, tag: tag, bytes: size, finishedAt: now))
                }
            } else if roll < 95 {
                now += random.next() % 200
            } else {
                ring.expire(now: now)
                while let oldest = model.first, now - oldest.finishedAt >= window { model.removeFirst() }
            }
            if step % 10 == 0 {
                #expect(ring.count == model.count, "count at step \(step)")
                #expect(ring.bytes == model.reduce(0) { $0 + $1.bytes }, "bytes at step \(step)")
            }
            if step % 500 == 0 {
                var wrong = 0
                for requester in requesters {
                    for number in 0..<numbers where Self.tag(ring, number, requester) != modelLookup(Self.key(number, requester)) {
                        wrong += 1
                    }
                }
                #expect(wrong == 0, "\(wrong) lookups disagree at step \(step)")
            }
        }
    }
}


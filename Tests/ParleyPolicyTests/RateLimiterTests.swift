import ParleyPolicy
import ParleyWire
import Testing

/// Holds a limiter by reference, so `#expect` can call its mutating `admit` directly.
private final class Limiter {
    var limiter = RateLimiter()
    func admit(caller: String, rule: PolicyRule, now: UInt64) -> Bool { limiter.admit(caller: caller, rule: rule, now: now) }
    func forget(caller: String) { limiter.forget(caller: caller) }
    var callerCount: Int { limiter.callerCount }
}

@Suite("Rate limiting per caller and rule")
struct RateLimiterTests {
    private func rule(_ name: String = "r", rate: String?) -> PolicyRule {
        PolicyRule(name: name, comment: "", from: "a", to: "b", kinds: [.call], maxPayloadBytes: 10, rate: rate.flatMap(Rate.init))
    }

    @Test("a caller gets its burst of N requests, then is refused")
    func burstThenRefused() {
        let limiter = Limiter()
        let fivePerSecond = rule(rate: "5/s")
        let admitted = (0..<8).map { _ in limiter.admit(caller: "x", rule: fivePerSecond, now: 1_000) }
        #expect(admitted == [true, true, true, true, true, false, false, false])
    }

    @Test("tokens refill evenly as time passes, up to the burst size")
    func refills() {
        let limiter = Limiter()
        let twoPerSecond = rule(rate: "2/s")
        #expect(limiter.admit(caller: "x", rule: twoPerSecond, now: 0))
        #expect(limiter.admit(caller: "x", rule: twoPerSecond, now: 0))
        #expect(!limiter.admit(caller: "x", rule: twoPerSecond, now: 0))
        #expect(!limiter.admit(caller: "x", rule: twoPerSecond, now: 499), "one token takes 500 ms")
        #expect(limiter.admit(caller: "x", rule: twoPerSecond, now: 500))
        #expect(!limiter.admit(caller: "x", rule: twoPerSecond, now: 500))
        // A long pause refills to the burst size, not beyond.
        let later = (0..<4).map { _ in limiter.admit(caller: "x", rule: twoPerSecond, now: 60_000) }
        #expect(later == [true, true, false, false])
    }

    @Test("sub-second and multi-second periods refill at count per period", arguments: [
        ("20/100ms", UInt64(5)), ("1/2s", 2_000), ("10/min", 6_000),
    ])
    func periods(rate: String, refillMilliseconds: UInt64) throws {
        let limiter = Limiter()
        let limited = rule(rate: rate)
        let count = try #require(Rate(rate)).count
        for _ in 0..<count { #expect(limiter.admit(caller: "x", rule: limited, now: 10)) }
        #expect(!limiter.admit(caller: "x", rule: limited, now: 10))
        #expect(!limiter.admit(caller: "x", rule: limited, now: 10 + refillMilliseconds - 1))
        #expect(limiter.admit(caller: "x", rule: limited, now: 10 + refillMilliseconds))
    }

    @Test("callers have separate buckets: one caller's burst does not limit another")
    func perCaller() {
        let limiter = Limiter()
        let onePerMinute = rule(rate: "1/min")
        #expect(limiter.admit(caller: "alice", rule: onePerMinute, now: 0))
        #expect(!limiter.admit(caller: "alice", rule: onePerMinute, now: 1))
        #expect(limiter.admit(caller: "bob", rule: onePerMinute, now: 1))
        #expect(!limiter.admit(caller: "bob", rule: onePerMinute, now: 2))
        #expect(limiter.callerCount == 2)
    }

    @Test("rules have separate buckets for the same caller")
    func perRule() {
        let limiter = Limiter()
        #expect(limiter.admit(caller: "x", rule: rule("one", rate: "1/h"), now: 0))
        #expect(!limiter.admit(caller: "x", rule: rule("one", rate: "1/h"), now: 0))
        #expect(limiter.admit(caller: "x", rule: rule("two", rate: "1/h"), now: 0))
    }

    @Test("a rule without a rate always admits and records nothing")
    func unlimited() {
        let limiter = Limiter()
        let free = rule(rate: nil)
        for _ in 0..<10_000 { #expect(limiter.admit(caller: "x", rule: free, now: 0)) }
        #expect(limiter.callerCount == 0)
    }

    @Test("forgetting a caller drops its buckets, so it starts over with a full burst")
    func forget() {
        let limiter = Limiter()
        let onePerHour = rule(rate: "1/h")
        #expect(limiter.admit(caller: "x", rule: onePerHour, now: 0))
        #expect(!limiter.admit(caller: "x", rule: onePerHour, now: 0))
        limiter.forget(caller: "x")
        #expect(limiter.callerCount == 0)
        #expect(limiter.admit(caller: "x", rule: onePerHour, now: 0))
    }

    @Test("a changed rate (policy reload) starts the bucket over")
    func rateChanged() {
        let limiter = Limiter()
        #expect(limiter.admit(caller: "x", rule: rule(rate: "1/h"), now: 0))
        #expect(!limiter.admit(caller: "x", rule: rule(rate: "1/h"), now: 0))
        #expect(limiter.admit(caller: "x", rule: rule(rate: "3/h"), now: 0))
    }

    @Test("time going backwards neither refills nor crashes")
    func clockBackwards() {
        let limiter = Limiter()
        let onePerSecond = rule(rate: "1/s")
        #expect(limiter.admit(caller: "x", rule: onePerSecond, now: 10_000))
        #expect(!limiter.admit(caller: "x", rule: onePerSecond, now: 0))
        #expect(!limiter.admit(caller: "x", rule: onePerSecond, now: 10_999))
        #expect(limiter.admit(caller: "x", rule: onePerSecond, now: 11_000))
    }

    @Test("huge rates and times saturate instead of overflowing")
    func huge() {
        let limiter = Limiter()
        let enormous = PolicyRule(name: "big", comment: "", from: "a", to: "b", kinds: [.call], maxPayloadBytes: 1,
                                  rate: Rate(count: .max, perMilliseconds: .max))
        #expect(limiter.admit(caller: "x", rule: enormous, now: 0))
        #expect(limiter.admit(caller: "x", rule: enormous, now: .max))
    }
}

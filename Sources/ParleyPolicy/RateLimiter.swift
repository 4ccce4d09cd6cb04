/// Token buckets per (caller, rule): a caller over its rule's ``Rate`` is refused until tokens refill.
///
/// Each bucket holds up to `count` tokens and starts full, so a caller may burst `count` requests; it regains one
/// token every `perMilliseconds / count` milliseconds. Exact integer arithmetic, driven by the `now` the caller
/// passes (monotonic milliseconds), so tests need no clock. Not thread-safe: one owner (the gateway's reactor)
/// mutates it.
public struct RateLimiter: Sendable {
    /// One caller's bucket for one rule. The level counts token fractions: one token is `perMilliseconds`
    /// units, and every elapsed millisecond adds `count` units.
    private struct Bucket: Sendable {
        var rate: Rate
        var level: UInt64
        var updated: UInt64
    }

    /// caller → rule name → bucket.
    private var buckets: [String: [String: Bucket]] = [:]

    /// An empty limiter: every caller starts with full buckets.
    public init() {}

    /// Whether `caller` may send one more request under `rule` at `now` (monotonic milliseconds); when it may,
    /// the request is counted. Always true (and nothing is recorded) when the rule has no rate. When the rule's
    /// rate changed since the bucket was made (a policy reload), the bucket starts over, full.
    public mutating func admit(caller: String, rule: PolicyRule, now: UInt64) -> Bool {
        guard let rate = rule.rate else { return true }
        let token = rate.perMilliseconds
        let capacity = Self.saturatingProduct(UInt64(rate.count), token)
        var bucket = buckets[caller]?[rule.name] ?? Bucket(rate: rate, level: capacity, updated: now)
        if bucket.rate != rate { bucket = Bucket(rate: rate, level: capacity, updated: now) }
        if now > bucket.updated {
            let refill = Self.saturatingProduct(now - bucket.updated, UInt64(rate.count))
            bucket.level = capacity - bucket.level < refill ? capacity : bucket.level + refill
            bucket.updated = now
        }
        let admitted = bucket.level >= token
        if admitted { bucket.level -= token }
        buckets[caller, default: [:]][rule.name] = bucket
        return admitted
    }

    /// Drops every bucket of `caller` (call it when the caller disconnects, so memory stays bounded).
    public mutating func forget(caller: String) {
        buckets[caller] = nil
    }

    /// How many callers have at least one bucket.
    public var callerCount: Int { buckets.count }

    private static func saturatingProduct(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : product
    }
}

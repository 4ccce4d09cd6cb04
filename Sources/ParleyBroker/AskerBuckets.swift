import ZeroMQ

/// Who a rate limit counts against: the CURVE identity that asked, or, unauthenticated, its connection; and in
/// development mode also the address it connects from (libzmq's `Peer-Address`: the IP for tcp, the process's
/// credentials for ipc), so that opening more connections does not multiply an allowance.
enum Asker: Hashable {
    case identity(String)
    case connection(PeerID)
    case address(String)

    /// The identity when the connection has one (its `User-Id`), else the connection.
    init(identity: String?, peer: PeerID) {
        self = identity.map(Asker.identity) ?? .connection(peer)
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Work whose size shows only once done is
/// charged afterwards and may leave the bucket in debt (at most one burst), which the asker waits out.
struct TokenBucket {
    let rate: Int64
    let burst: Int64
    private var tokens: Int64
    private var at: UInt64

    init(rate: Int64, burst: Int64, now: UInt64) {
        self.rate = rate
        self.burst = burst
        tokens = burst
        at = now
    }

    /// Takes one token; false when there is none.
    mutating func take(now: UInt64) -> Bool {
        tokens = min(burst, tokens + Int64(clamping: (now &- at) &* UInt64(rate) / 1_000))
        at = now
        guard tokens > 0 else { return false }
        tokens -= 1
        return true
    }

    /// Takes `cost` more tokens, into debt if need be.
    mutating func charge(_ cost: UInt64) {
        tokens = max(-burst, tokens - Int64(clamping: cost))
    }
}

/// A ``TokenBucket`` per asker. Bounded: past 10,000 askers every bucket starts afresh.
struct AskerBuckets {
    let rate: Int64
    let burst: Int64
    private var buckets: [Asker: TokenBucket] = [:]

    init(rate: Int64, burst: Int64) {
        self.rate = rate
        self.burst = burst
    }

    /// Takes one token from `asker`'s bucket; false when it has none.
    mutating func take(_ asker: Asker, now: UInt64) -> Bool {
        if buckets.count >= 10_000 { buckets.removeAll(keepingCapacity: true) }
        var bucket = buckets.removeValue(forKey: asker) ?? TokenBucket(rate: rate, burst: burst, now: now)
        defer { buckets[asker] = bucket }
        return bucket.take(now: now)
    }

    /// Takes `cost` more tokens from `asker`'s bucket, into debt if need be.
    mutating func charge(_ asker: Asker, _ cost: UInt64) {
        buckets[asker]?.charge(cost)
    }
}

/// Exponential backoff with full jitter: before retry n, a random wait in 0 ..< min(cap, base × 2ⁿ).
struct Backoff {
    let base: Duration
    let cap: Duration

    func delay(beforeRetry retry: Int) -> Duration {
        let exponent = min(retry, 20)
        let ceiling = min(cap, base * (1 << exponent))
        let nanoseconds = ceiling.components.seconds * 1_000_000_000 + ceiling.components.attoseconds / 1_000_000_000
        guard nanoseconds > 0 else { return .zero }
        return .nanoseconds(Int64.random(in: 0..<nanoseconds))
    }
}

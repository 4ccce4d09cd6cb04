extension Duration {
    /// Whole milliseconds, clamped at zero (the protocol's unit for timeouts).
    var wholeMilliseconds: UInt64 {
        let (seconds, attoseconds) = components
        return UInt64(max(0, seconds * 1_000 + attoseconds / 1_000_000_000_000_000))
    }
}

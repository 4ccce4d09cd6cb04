/// What one REPLAY answer may still carry: events and bytes (payload plus 256 per event).
struct ReplayBudget {
    var events: Int
    var bytes: Int
    /// Set when an event was due and the batch was full.
    private(set) var cutShort = false

    /// Takes room for one more event, or marks the batch cut short when there is none.
    mutating func take(payloadBytes: Int) -> Bool {
        guard events > 0, bytes > 0 else {
            cutShort = true
            return false
        }
        events -= 1
        bytes -= payloadBytes + 256
        return true
    }
}

/// Puts one topic's events in sequence order for one subscription: delivers them without holes or
/// repeats, holds early arrivals, and says which range to ask the broker to replay. Pure state machine.
struct SequenceTracker<Item> {
    /// The next sequence to deliver.
    private(set) var next: UInt64
    private var held: [UInt64: Item] = [:]
    /// Whether a REPLAY for the current hole is outstanding.
    private var replayPending = false
    /// Whether an event arrived since the last periodic check.
    private var heardSinceSync = false

    init(next: UInt64) {
        self.next = next
    }

    /// An event arrived, live or replayed: hands the events now deliverable to `deliver`, in order, and
    /// returns the range to replay when a hole just opened. An event in order with nothing held allocates nothing.
    mutating func accept(_ sequence: UInt64, _ item: Item, deliver: (Item) -> Void) -> ClosedRange<UInt64>? {
        heardSinceSync = true
        if sequence < next || (!held.isEmpty && held[sequence] != nil) { return nil }
        if sequence > next {
            held[sequence] = item
            return requestReplay(upTo: sequence - 1)
        }
        deliver(item)
        next += 1
        if held.isEmpty {
            replayPending = false
        } else {
            releaseHeld().forEach(deliver)
        }
        return nil
    }

    /// The broker said `range` is gone for good: skip it and release what was waiting behind it.
    mutating func skip(_ range: ClosedRange<UInt64>) -> [Item] {
        guard range.lowerBound <= next, range.upperBound >= next else { return [] }
        next = range.upperBound + 1
        held = held.filter { $0.key >= next }
        return releaseHeld()
    }

    /// A BEACON named the topic's latest sequence: the range to replay if events are missing.
    mutating func latest(_ latest: UInt64) -> ClosedRange<UInt64>? {
        latest >= next ? requestReplay(upTo: latest) : nil
    }

    /// A periodic check: the sequence to replay from (up to the latest), unless a replay is outstanding or events
    /// arrived since the last check. It catches the tail of a burst whose events and BEACONs were all dropped.
    /// Only a quiet topic asks: while events flow, the ones not read yet are still on their way (a replay without
    /// an end would overtake them, and the broker would call the older ones a GAP); holes among them are asked
    /// for as they show, up to the event that revealed them.
    mutating func sync() -> UInt64? {
        defer { heardSinceSync = false }
        guard !replayPending, !heardSinceSync else { return nil }
        replayPending = true
        return next
    }

    /// Forgets an outstanding REPLAY whose answer will never come (reconnect, refused REPLAY).
    mutating func replayLost() {
        replayPending = false
    }

    /// The answer to the outstanding REPLAY is complete: a hole still open is asked for again.
    mutating func replayFinished() -> ClosedRange<UInt64>? {
        replayPending = false
        guard let first = held.keys.min() else { return nil }
        return requestReplay(upTo: first - 1)
    }

    private mutating func requestReplay(upTo last: UInt64) -> ClosedRange<UInt64>? {
        guard !replayPending, last >= next else { return nil }
        replayPending = true
        return next...last
    }

    private mutating func releaseHeld() -> [Item] {
        var ready: [Item] = []
        while let item = held.removeValue(forKey: next) {
            ready.append(item)
            next += 1
        }
        if held.isEmpty { replayPending = false }
        return ready
    }
}

extension SequenceTracker: Sendable where Item: Sendable {}

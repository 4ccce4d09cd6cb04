/// The agents remembered as away, oldest first, so that over `maxAwayAgents` the broker forgets the one away
/// longest without scanning every agent (issue 12: connect–HELLO–vanish churn left 30,000 away records for 600 s).
///
/// Entries are checked lazily: one whose agent came back, left or went away again is skipped when reached, and
/// the queue is compacted when such entries are half of it.
struct AwayAgents {
    private var queue: [(id: String, since: UInt64)] = []
    private var head = 0
    /// Agents away now.
    private(set) var count = 0

    /// `id` went away at `since`; `isCurrent` (still away since that time) compacts the queue when its outdated
    /// entries are most of it (agents going away again and again add entries while few are away).
    mutating func add(_ id: String, since: UInt64, isCurrent: (String, UInt64) -> Bool) {
        queue.append((id, since))
        count += 1
        compactIfOutdated(isCurrent)
    }

    /// One away agent came back or was forgotten; `isCurrent` compacts the queue as for `add`.
    mutating func removeOne(isCurrent: (String, UInt64) -> Bool) {
        count -= 1
        compactIfOutdated(isCurrent)
    }

    /// Keeps the queue within twice the away agents (at least 32 entries are allowed before a pass).
    private mutating func compactIfOutdated(_ isCurrent: (String, UInt64) -> Bool) {
        guard queue.count - head > 2 * max(count, 16) else { return }
        queue = queue[head...].filter { isCurrent($0.id, $0.since) }
        head = 0
    }

    /// The agent away longest that `isCurrent` confirms (still away since that time), taken off the queue.
    mutating func oldest(where isCurrent: (String, UInt64) -> Bool) -> String? {
        while head < queue.count {
            let entry = queue[head]
            head += 1
            if isCurrent(entry.id, entry.since) { return entry.id }
        }
        return nil
    }

    /// Entries held, outdated ones included (bookkeeping checks).
    var storedEntries: Int { queue.count - head }
}

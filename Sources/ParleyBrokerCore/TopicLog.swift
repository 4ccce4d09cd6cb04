import ParleyWire

/// One event kept for replay.
struct RetainedEvent<Payload: BrokerPayload> {
    let header: EventHeader
    /// Let go (nil) once the event leaves retention, so its slot holds no payload until compaction.
    var payload: Payload?
    let size: Int
    let retainedAt: UInt64
}

/// One topic's sequence counter and its bounded retention buffer (by count, bytes and age).
struct TopicLog<Payload: BrokerPayload> {
    let frame: [UInt8]
    /// The sequence of the latest event; 0 before the first.
    private(set) var latest: UInt64 = 0
    /// BEACONs still to send for the latest event (one per heartbeat tick).
    var beaconsLeft = 0
    private var retained: [RetainedEvent<Payload>] = []
    private var head = 0
    private var bytes = 0

    /// A new topic whose first event gets `latest + 1`.
    init(topic: Topic, latest: UInt64 = 0) {
        frame = topic.frame
        self.latest = latest
    }

    /// The next sequence number to stamp.
    mutating func nextSequence() -> UInt64 {
        latest += 1
        return latest
    }

    /// The oldest sequence still retained (latest + 1 when none is).
    var oldestRetained: UInt64 { head < retained.count ? retained[head].header.sequence : latest + 1 }

    /// Takes back an event read from the journal at start-up: the sequence counter moves past it.
    mutating func restore(_ event: RetainedEvent<Payload>, limits: BrokerConfiguration, now: UInt64) {
        let sequence = event.header.sequence
        guard sequence > latest else { return }
        if head < retained.count, sequence != latest + 1 {
            dropAll()  // a hole in the journal (compaction dropped events): what is retained must stay contiguous
        }
        latest = sequence
        retain(event, limits: limits, now: now)
    }

    /// Takes back a topic's latest sequence from the journal (its events may all be gone).
    mutating func restoreLatest(_ sequence: UInt64) {
        guard sequence > latest else { return }
        latest = sequence
        dropAll()
    }

    /// Takes back a purge from the journal: drops the events up to `sequence` and moves the sequence counter
    /// past it, so that events up to it read later (a purge journaled in the same batch as its events) stay dropped.
    mutating func restorePurge(through sequence: UInt64) {
        _ = purge(through: sequence)
        latest = max(latest, sequence)
    }

    private mutating func dropAll() {
        retained.removeAll()
        head = 0
        bytes = 0
    }

    /// The retained events, oldest first.
    var retainedEvents: ArraySlice<RetainedEvent<Payload>> { retained[head...] }

    mutating func retain(_ event: RetainedEvent<Payload>, limits: BrokerConfiguration, now: UInt64) {
        retained.append(event)
        bytes += event.size
        evict(limits: limits, now: now)
    }

    /// Drops the oldest events beyond the count and byte limits, and those older than the age limit.
    mutating func evict(limits: BrokerConfiguration, now: UInt64) {
        while let oldest = retained[head...].first {
            let tooMany = retainedCount > limits.retentionCount
            let tooBig = bytes > limits.retentionBytes
            let tooOld = now &- oldest.retainedAt > limits.retentionMilliseconds
            guard tooMany || tooBig || tooOld else { break }
            dropOldest()
        }
    }

    /// Drops the oldest retained event, if any, releasing its payload at once. The slots of dropped events are
    /// compacted away when they are half of the buffer (amortized O(1) per event).
    mutating func dropOldest() {
        guard head < retained.count else { return }
        bytes -= retained[head].size
        retained[head].payload = nil
        head += 1
        if head * 2 > retained.count {
            retained.removeFirst(head)
            head = 0
        }
    }

    /// Drops the retained events up to `sequence` (an administrator's purge), releasing their payloads; the
    /// sequence counter stays. Returns how many events and payload bytes went.
    mutating func purge(through sequence: UInt64) -> Size {
        let before = size
        while head < retained.count, retained[head].header.sequence <= sequence { dropOldest() }
        return (before.bytes - bytes, before.events - retainedCount)
    }

    /// How many events are retained.
    var retainedCount: Int { retained.count - head }

    /// Payload bytes and events retained, together (for keeping totals over many logs).
    typealias Size = (bytes: Int, events: Int)
    var size: Size { (bytes, retainedCount) }

    /// Payload bytes of the retained events.
    var retainedBytes: Int { bytes }

    /// When the oldest retained event was retained, if any is.
    var oldestRetainedAt: UInt64? { head < retained.count ? retained[head].retainedAt : nil }

    /// The retained events with sequences in `range`, oldest first.
    func events(in range: ClosedRange<UInt64>) -> ArraySlice<RetainedEvent<Payload>> {
        guard head < retained.count else { return [] }
        let first = retained[head].header.sequence
        guard range.upperBound >= first else { return [] }
        let lower = head + Int(max(range.lowerBound, first) - first)
        let upper = min(retained.count, head + Int(min(range.upperBound - first, UInt64(retained.count))) + 1)
        return lower < upper ? retained[lower..<upper] : []
    }
}

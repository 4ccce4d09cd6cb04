import ParleyWire

/// The agent's subscriptions as its reactor thread sees them: which prefixes the events socket must
/// subscribe to, and one `SequenceTracker` per subscription and topic. Owned by the reactor thread.
struct SubscriptionTable {
    /// One subscription.
    struct Entry: Sendable {
        let selectors: [TopicSelector]
        let start: SubscriptionStart
        let channel: NoticeChannel
        var trackers: [Topic: SequenceTracker<ReceivedEvent>] = [:]

        func covers(_ topic: Topic) -> Bool { selectors.contains { $0.matches(topic) } }
    }

    /// Notices a consumer may leave untaken before the agent stops reading live events.
    let backlogLimit: Int

    private var entries: [Int: Entry] = [:]
    private var prefixUsers: [[UInt8]: Int] = [:]

    init(backlogLimit: Int) {
        self.backlogLimit = backlogLimit
    }

    /// Every prefix in use, to subscribe a fresh events socket after a reconnect.
    var prefixes: [[UInt8]] { Array(prefixUsers.keys) }

    /// Whether some consumer is too far behind to read more live events now.
    var isBackedUp: Bool { entries.values.contains { $0.channel.backlog.load(ordering: .relaxed) > backlogLimit } }

    /// Adds a subscription: the prefixes to subscribe to now, and the replays a `.sequence` start needs.
    mutating func add(_ id: Int, _ entry: Entry) -> (prefixes: [[UInt8]], replays: [Replay]) {
        entries[id] = entry
        var prefixes: [[UInt8]] = []
        for selector in entry.selectors {
            prefixUsers[selector.subscription, default: 0] += 1
            if prefixUsers[selector.subscription] == 1 { prefixes.append(selector.subscription) }
        }
        guard case .sequence(let from) = entry.start else { return (prefixes, []) }
        return (prefixes, entry.selectors.map { Replay(selector: $0, from: max(from, 1)) })
    }

    /// Removes a subscription and ends its sequence: the prefixes nobody uses any more.
    mutating func remove(_ id: Int) -> [[UInt8]] {
        guard let entry = entries.removeValue(forKey: id) else { return [] }
        entry.channel.finish()
        var unused: [[UInt8]] = []
        for selector in entry.selectors {
            prefixUsers[selector.subscription, default: 1] -= 1
            if prefixUsers[selector.subscription] == 0 {
                prefixUsers[selector.subscription] = nil
                unused.append(selector.subscription)
            }
        }
        return unused
    }

    /// Ends every subscription (the agent closed).
    mutating func removeAll() {
        for id in Array(entries.keys) { _ = remove(id) }
    }

    /// An EVENT arrived, live or replayed: deliver what is in order; the replays holes call for.
    mutating func receive(_ event: ReceivedEvent) -> [Replay] {
        forEachCovering(event.topic) { entry in
            let channel = entry.channel
            let deliver = { (ready: ReceivedEvent) in channel.send(.event(ready)) }
            let missing: ClosedRange<UInt64>?
            if let index = entry.trackers.index(forKey: event.topic) {
                missing = entry.trackers.values[index].accept(event.sequence, event, deliver: deliver)
            } else {
                guard var tracker = Self.firstTracker(entry.start, event) else { return nil }
                missing = tracker.accept(event.sequence, event, deliver: deliver)
                entry.trackers[event.topic] = tracker
            }
            return missing.map { Replay(selector: .topic(event.topic), from: $0.lowerBound, to: $0.upperBound) }
        }
    }

    /// A GAP: tell the consumers whose next event falls in it, and move past it.
    mutating func receive(_ gap: Gap) -> [Replay] {
        forEachCovering(gap.topic) { entry in
            guard var tracker = entry.trackers[gap.topic] ?? Self.startTracker(entry.start),
                  (gap.from...gap.to).contains(tracker.next) else { return nil }
            let skipped = gap.from...gap.to
            Self.deliver([.gap(topic: gap.topic, from: tracker.next, to: gap.to)], to: entry)
            let ready = tracker.skip(skipped)
            entry.trackers[gap.topic] = tracker
            Self.deliver(ready.map(EventNotice.event), to: entry)
            return nil
        }
    }

    /// A BEACON: a subscriber behind the topic's latest sequence asks for the rest.
    mutating func receive(_ beacon: Beacon) -> [Replay] {
        forEachCovering(beacon.topic) { entry in
            var tracker = entry.trackers[beacon.topic] ?? Self.startTracker(entry.start)
                ?? SequenceTracker(next: beacon.latest + 1)
            let missing = tracker.latest(beacon.latest)
            entry.trackers[beacon.topic] = tracker
            return missing.map { Replay(selector: .topic(beacon.topic), from: $0.lowerBound, to: $0.upperBound) }
        }
    }

    /// Asks for everything after what each tracker has delivered (answered with nothing when nothing is
    /// missing): after the agent stopped reading live events, and periodically, in case the tail of a
    /// burst and its BEACONs were all dropped.
    mutating func syncAll() -> [Replay] {
        var replays: [Replay] = []
        for id in Array(entries.keys) {
            for topic in Array(entries[id]!.trackers.keys) {
                if let from = entries[id]!.trackers[topic]!.sync() { replays.append(Replay(selector: .topic(topic), from: from)) }
            }
        }
        return replays
    }

    /// Replays in flight will not be answered (the connection was replaced, or a REPLAY was refused):
    /// trackers may ask again.
    mutating func replaysLost() {
        for id in Array(entries.keys) {
            for topic in Array(entries[id]!.trackers.keys) { entries[id]!.trackers[topic]!.replayLost() }
        }
    }

    /// REPLAY_END: holes still open after a replay are asked for again.
    mutating func receive(_ end: ReplayEnd) -> [Replay] {
        var replays: [Replay] = []
        for id in Array(entries.keys) {
            for topic in Array(entries[id]!.trackers.keys) where end.selector.matches(topic) {
                if let missing = entries[id]!.trackers[topic]!.replayFinished() {
                    replays.append(Replay(selector: .topic(topic), from: missing.lowerBound, to: missing.upperBound))
                }
            }
        }
        return replays
    }

    /// Runs `body` on every subscription covering `topic` (in place: values change, indices stay valid).
    private mutating func forEachCovering(_ topic: Topic, _ body: (inout Entry) -> Replay?) -> [Replay] {
        var replays: [Replay] = []
        for index in entries.indices where entries.values[index].covers(topic) {
            if let replay = body(&entries.values[index]) { replays.append(replay) }
        }
        return replays
    }

    /// The tracker for a topic's first event: `.now` starts with whatever arrives live first.
    private static func firstTracker(_ start: SubscriptionStart, _ event: ReceivedEvent) -> SequenceTracker<ReceivedEvent>? {
        if let tracker = startTracker(start) { return tracker }
        return event.replayed ? nil : SequenceTracker(next: event.sequence)
    }

    private static func startTracker(_ start: SubscriptionStart) -> SequenceTracker<ReceivedEvent>? {
        if case .sequence(let from) = start { return SequenceTracker(next: max(from, 1)) }
        return nil
    }

    private static func deliver(_ notices: [EventNotice], to entry: Entry) {
        for notice in notices { entry.channel.send(notice) }
    }
}

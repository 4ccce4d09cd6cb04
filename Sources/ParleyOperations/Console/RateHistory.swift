/// Per-second rates of named running totals (requests by outcome, say) over the last minutes, made from the totals
/// of successive reactor samples. A value: keep it where one thread at a time updates it.
public struct RateHistory: Sendable {
    /// One interval between two samples: when it ended (monotonic milliseconds) and each total's rate over it.
    public struct Point: Sendable {
        public var endedAt: UInt64
        public var perSecond: [String: Double]
    }

    private var points: BoundedQueue<Point>
    private var last: (takenAt: UInt64, totals: [String: UInt64])?

    /// Keeps the last `capacity` intervals (300 one-second samples: five minutes).
    public init(capacity: Int = 300) {
        points = BoundedQueue(capacity: capacity)
    }

    /// Adds the interval since the previous sample; a sample not newer than the previous one is ignored.
    public mutating func record(takenAt: UInt64, totals: [String: UInt64]) {
        defer { if takenAt > last?.takenAt ?? 0 { last = (takenAt, totals) } }
        guard let last, takenAt > last.takenAt else { return }
        let seconds = Double(takenAt - last.takenAt) / 1_000
        var perSecond: [String: Double] = [:]
        for (name, total) in totals {
            perSecond[name] = Double(total &- min(last.totals[name] ?? 0, total)) / seconds
        }
        points.push(Point(endedAt: takenAt, perSecond: perSecond))
    }

    /// The intervals that ended within the last `seconds` before `now` (monotonic milliseconds), oldest first.
    public func points(within seconds: Int, now: UInt64) -> [Point] {
        points.elements.filter { now &- $0.endedAt <= UInt64(seconds) * 1_000 }
    }
}

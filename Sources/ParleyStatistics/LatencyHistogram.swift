/// A fixed-bucket latency histogram owned by one reactor thread: recording is an array increment, no lock and no
/// allocation. The reactor hands a copy to the exporter now and then (ParleyOperations' `HistogramMirror` turns the difference into
/// swift-metrics observations), so the hot path never touches the metrics backend.
///
/// Each bucket keeps its count and the sum of its values, so the exported count, buckets and sum are exact.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in nanoseconds (inclusive, like Prometheus's `le`): 100 µs to 60 s.
    public static let boundsNanoseconds: [UInt64] = [
        100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000, 100_000_000,
        250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000, 5_000_000_000, 10_000_000_000, 30_000_000_000, 60_000_000_000,
    ]

    /// Observations per bucket (not cumulative); the last one is above the largest bound.
    public private(set) var counts = [UInt64](repeating: 0, count: boundsNanoseconds.count + 1)
    /// The sum of the observations in each bucket, in nanoseconds.
    public private(set) var sums = [UInt64](repeating: 0, count: boundsNanoseconds.count + 1)

    public init() {}

    /// Records one duration.
    public mutating func record(nanoseconds: UInt64) {
        var index = 0
        let bounds = Self.boundsNanoseconds
        while index < bounds.count, nanoseconds > bounds[index] { index += 1 }
        counts[index] &+= 1
        sums[index] &+= nanoseconds
    }

    /// Every observation so far.
    public var count: UInt64 { counts.reduce(0, &+) }
}

import CoreMetrics
import ParleyStatistics

/// A swift-metrics counter that follows a running total kept elsewhere (a core's counter): each `update` adds
/// the increase since the last one. Used by the exporter thread only, never by a reactor.
public final class CounterMirror {
    private let counter: Counter
    private var last: UInt64 = 0

    public init(_ label: String, _ dimensions: [(String, String)] = [], factory: any MetricsFactory) {
        counter = Counter(label: label, dimensions: dimensions, factory: factory)
    }

    /// Brings the counter to `total` (a total that went down, after a restart of its source, restarts from it).
    public func update(to total: UInt64) {
        if total > last { counter.increment(by: Int64(clamping: total - last)) }
        last = total
    }
}

/// A swift-metrics timer (a Prometheus histogram with ``LatencyHistogram``'s buckets) that follows a reactor's
/// ``LatencyHistogram``: `update` replays the observations added since the last update.
///
/// The replay is exact for the buckets, the count and the sum: a bucket that gained `n` observations summing to
/// `s` is replayed as `n` values of ⌊s/n⌋ or ⌈s/n⌉, which add up to `s` and lie within the bucket (its
/// observations were whole nanoseconds inside it, so their mean is too). Cost: one record per observation, on the
/// exporter's thread, at most once a second.
public final class HistogramMirror {
    private let timer: CoreMetrics.Timer
    private var last = LatencyHistogram()

    public init(_ label: String, _ dimensions: [(String, String)] = [], factory: any MetricsFactory) {
        timer = CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory)
    }

    public func update(to histogram: LatencyHistogram) {
        for index in histogram.counts.indices {
            let added = histogram.counts[index] &- last.counts[index]
            let addedSum = histogram.sums[index] &- last.sums[index]
            guard added > 0, histogram.counts[index] >= last.counts[index] else { continue }
            let low = addedSum / added
            let remainder = addedSum % added  // this many get low + 1
            for observation in 0..<added {
                timer.recordNanoseconds(Int64(clamping: observation < remainder ? low + 1 : low))
            }
        }
        last = histogram
    }
}

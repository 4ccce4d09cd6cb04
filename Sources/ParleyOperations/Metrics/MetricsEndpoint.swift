#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CoreMetrics
import ParleyStatistics
import ParleyWire
import Prometheus
import Synchronization

/// A process's metrics: a Prometheus registry behind a swift-metrics factory, the `process_*` figures, and the
/// text served at `/metrics`.
///
/// The executables record through swift-metrics (`Counter`, `CoreMetrics.Gauge`, `Timer` made with ``factory``), so the
/// backend could be swapped; Prometheus's text format is what operators scrape today.
public final class MetricsEndpoint: Sendable {
    /// Where the metrics live.
    public let registry: PrometheusCollectorRegistry
    /// The swift-metrics factory writing to `registry`, with ``LatencyHistogram``'s buckets for every timer.
    public let factory: PrometheusMetricsFactory
    private let startTime: Double
    private let residentMemory: CoreMetrics.Gauge
    private let virtualMemory: CoreMetrics.Gauge
    private let openDescriptors: CoreMetrics.Gauge
    private let maxDescriptors: CoreMetrics.Gauge
    private let threads: CoreMetrics.Gauge
    private let uptime: CoreMetrics.Gauge
    private let cpu: CoreMetrics.FloatingPointCounter
    private let lastCPU = LastValue()

    /// Metrics for a process that started now; `program` and ``ParleyVersion/current`` label `parley_build_info`.
    public init(program: String) {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = LatencyHistogram.boundsNanoseconds.map { .nanoseconds(Int64($0)) }
        self.factory = factory
        startTime = WallClock.seconds()
        CoreMetrics.Gauge(label: "process_start_time_seconds", factory: factory).record(startTime)
        CoreMetrics.Gauge(label: "parley_build_info", dimensions: [("program", program), ("version", ParleyVersion.current)],
                          factory: factory).record(1)
        residentMemory = CoreMetrics.Gauge(label: "process_resident_memory_bytes", factory: factory)
        virtualMemory = CoreMetrics.Gauge(label: "process_virtual_memory_bytes", factory: factory)
        openDescriptors = CoreMetrics.Gauge(label: "process_open_fds", factory: factory)
        maxDescriptors = CoreMetrics.Gauge(label: "process_max_fds", factory: factory)
        threads = CoreMetrics.Gauge(label: "process_threads", factory: factory)
        uptime = CoreMetrics.Gauge(label: "parley_uptime_seconds", factory: factory)
        cpu = CoreMetrics.FloatingPointCounter(label: "process_cpu_seconds_total", factory: factory)
    }

    /// Reads the process figures (/proc/self) into their gauges.
    public func refreshProcessStatistics() {
        let statistics = ProcessStatistics.current()
        residentMemory.record(statistics.residentBytes)
        virtualMemory.record(statistics.virtualBytes)
        openDescriptors.record(statistics.openDescriptors)
        maxDescriptors.record(statistics.maxDescriptors)
        threads.record(statistics.threads)
        uptime.record(WallClock.seconds() - startTime)
        let increase = lastCPU.exchange(statistics.cpuSeconds)
        if increase > 0 { cpu.increment(by: increase) }
    }

    /// The Prometheus text exposition of every metric, with its HELP line, process figures refreshed first.
    public func exposition() -> HTTPResponse {
        refreshProcessStatistics()
        return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                            body: MetricHelp.adding(to: registry.emitToBuffer()))
    }
}

/// The last CPU total seen, to turn totals into increments.
private final class LastValue: Sendable {
    private let value = Mutex<Double>(0)

    /// Stores `total` and returns how much it grew since the last call.
    func exchange(_ total: Double) -> Double {
        value.withLock { last in
            defer { last = max(last, total) }
            return total - last
        }
    }
}

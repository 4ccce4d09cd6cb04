import ParleyStatistics
import Synchronization

/// What a reactor hands its process's metrics now and then.
public protocol ReactorSample: Sendable {
    /// When it was taken: CLOCK_MONOTONIC milliseconds (the clock of `MonotonicClock` and ``NanosecondClock``).
    var takenAt: UInt64 { get }
    /// True once shutdown began.
    var draining: Bool { get }
}

/// The latest sample a reactor stored (one uncontended lock per sample, never per message), and the `/health`
/// verdict both processes derive from it. Thread-safe.
public final class LatestSample<Sample: ReactorSample>: Sendable {
    private let sample = Mutex<Sample?>(nil)
    private let intervalMilliseconds: UInt64

    /// `intervalMilliseconds`: how often the reactor stores one; three missed intervals (+1 s) mean stalled.
    public init(intervalMilliseconds: UInt64) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Keeps `sample` for the next export. Reactor thread.
    public func store(_ sample: Sample) {
        self.sample.withLock { $0 = sample }
    }

    /// The latest sample and its age in milliseconds, if the reactor stored one yet.
    public func load() -> (sample: Sample, age: UInt64)? {
        guard let sample = sample.withLock({ $0 }) else { return nil }
        return (sample, MonotonicClock.nanoseconds() / 1_000_000 &- sample.takenAt)
    }

    /// `/health`: 503 `starting` before the first sample, `draining` once shutdown began, `stalled` when the
    /// reactor stopped reporting, else `problem`'s verdict for the sample (503) or 200 `ok`. The JSON body is the
    /// status, the sample's age and the fields `details` writes (`"name":value` pairs, comma-separated).
    public func health(problem: (Sample) -> String? = { _ in nil }, details: (Sample) -> String) -> HTTPResponse {
        guard let (sample, age) = load() else { return .text(503, "{\"status\":\"starting\"}\n") }
        let status = sample.draining ? "draining" : age > intervalMilliseconds * 3 + 1_000 ? "stalled" : problem(sample) ?? "ok"
        let body = "{\"status\":\"\(status)\",\"sample_age_ms\":\(age),\(details(sample))}\n"
        return HTTPResponse(status: status == "ok" ? 200 : 503, contentType: "application/json", body: Array(body.utf8))
    }
}

extension MetricsEndpoint {
    /// The GET routes of a process's metrics server: `/metrics` (this endpoint's exposition) and `/health`.
    public func route(_ path: String, health: () -> HTTPResponse) -> HTTPResponse? {
        switch path {
        case "/metrics": exposition()
        case "/health": health()
        default: nil
        }
    }
}

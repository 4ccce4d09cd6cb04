#if canImport(Glibc)
import Glibc
#endif

/// Milliseconds from a monotonic clock, for reactor timers (no Foundation, no allocation).
public enum MonotonicClock {
    /// Milliseconds since an arbitrary fixed point (CLOCK_MONOTONIC).
    public static func milliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000 + UInt64(spec.tv_nsec) / 1_000_000
    }
}

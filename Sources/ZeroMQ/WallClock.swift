#if canImport(Glibc)
import Glibc
#endif

/// Milliseconds since the Unix epoch (CLOCK_REALTIME), for timestamps people read; timers use `MonotonicClock`.
public enum WallClock {
    /// The current Unix time in milliseconds.
    public static func milliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1_000 + UInt64(spec.tv_nsec) / 1_000_000
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The monotonic clock (CLOCK_MONOTONIC), for timers and latencies: no Foundation, no allocation. The one clock
/// wrapper of the code base beside ``WallClock``.
public enum MonotonicClock {
    /// Milliseconds since an arbitrary fixed point.
    public static func milliseconds() -> UInt64 { nanoseconds() / 1_000_000 }

    /// Nanoseconds since the same fixed point.
    public static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}

/// The wall clock (CLOCK_REALTIME), for timestamps people read; timers use ``MonotonicClock``.
public enum WallClock {
    /// Milliseconds since the Unix epoch.
    public static func milliseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UInt64(spec.tv_sec) * 1_000 + UInt64(spec.tv_nsec) / 1_000_000
    }

    /// Seconds since the Unix epoch, with a fraction.
    public static func seconds() -> Double { Double(milliseconds()) / 1_000 }
}

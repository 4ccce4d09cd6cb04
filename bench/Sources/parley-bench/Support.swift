#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Nanoseconds from CLOCK_MONOTONIC. `MonotonicClock.milliseconds()` is too coarse for round trips of ~100 µs.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
}

/// Seconds as nanoseconds.
func nanoseconds(seconds: Double) -> UInt64 { UInt64((seconds * 1e9).rounded()) }

/// SplitMix64: a fast generator for fresh callback ids. `CallbackID.random()` asks the kernel for entropy
/// on every call (getrandom), which would make the load generator, not the broker, pay per request.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    /// Seeded once from the system generator.
    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Latency percentiles from a plain sorted array of nanosecond samples (nearest-rank).
struct LatencySummary: Sendable {
    var p50: Double = 0
    var p99: Double = 0
    var p999: Double = 0
    var max: Double = 0

    /// Sorts `samples` in place and reads the percentiles, in microseconds.
    init(sorting samples: inout [UInt64]) {
        guard !samples.isEmpty else { return }
        samples.sort()
        func microseconds(at quantile: Double) -> Double {
            let rank = Int((quantile * Double(samples.count)).rounded(.up))
            return Double(samples[Swift.max(0, Swift.min(samples.count - 1, rank - 1))]) / 1_000
        }
        p50 = microseconds(at: 0.50)
        p99 = microseconds(at: 0.99)
        p999 = microseconds(at: 0.999)
        max = Double(samples[samples.count - 1]) / 1_000
    }
}

/// Writes one line to standard output at once, unbuffered, so a parent reading the pipe sees it immediately.
func emitLine(_ text: String) {
    writeAll(1, text + "\n")
}

/// Writes one line to standard error, unbuffered.
func emitError(_ text: String) {
    writeAll(2, text + "\n")
}

private func writeAll(_ descriptor: Int32, _ text: String) {
    var text = text
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// A failure of the benchmark harness itself, with a message for people.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Which side of the comparison a load generator talks to.
enum LoadMode: String, CaseIterable, Sendable {
    /// The real `parley-broker`: HELLO/WELCOME, REQUEST → RESULT, DELIVER → REPLY.
    case broker
    /// The logic-free forwarder: frames are echoed as they are.
    case raw
}

/// Big-endian UInt64 at `offset`.
@inline(__always)
func readBigEndianUInt64(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for index in offset..<(offset + 8) { value = value << 8 | UInt64(bytes[index]) }
    return value
}

/// Writes `value` big-endian at `offset`.
@inline(__always)
func writeBigEndianUInt64(_ value: UInt64, into bytes: inout [UInt8], at offset: Int) {
    for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(index))) }
}

/// CPU time (user + system, all threads) this process has used, in seconds.
func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
import ParleyStatistics
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

/// Latency percentiles from a plain sorted array of nanosecond samples (nearest rank), in microseconds.
/// Every sample is kept (8 bytes each), so the percentiles are exact rather than bucketed.
struct LatencySummary: Sendable {
    var p50: Double = 0
    var p90: Double = 0
    var p99: Double = 0
    var p999: Double = 0
    var max: Double = 0

    init() {}

    /// Sorts `samples` in place and reads the percentiles.
    init(sorting samples: inout [UInt64]) {
        guard !samples.isEmpty else { return }
        samples.sort()
        func microseconds(at quantile: Double) -> Double {
            let rank = Int((quantile * Double(samples.count)).rounded(.up))
            return Double(samples[Swift.max(0, Swift.min(samples.count - 1, rank - 1))]) / 1_000
        }
        p50 = microseconds(at: 0.50)
        p90 = microseconds(at: 0.90)
        p99 = microseconds(at: 0.99)
        p999 = microseconds(at: 0.999)
        max = Double(samples[samples.count - 1]) / 1_000
    }
}

/// Writes latency samples (nanoseconds) to `path` as raw native-endian UInt64s, for the parent to merge.
func writeSamples(_ samples: [UInt64], to path: String) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard descriptor >= 0 else { throw BenchError("cannot create \(path): errno \(errno)") }
    defer { close(descriptor) }
    try samples.withUnsafeBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw BenchError("cannot write \(path): errno \(errno)")
            }
            offset += written
        }
    }
}

/// Appends the samples `writeSamples` wrote at `path` to `samples`.
func readSamples(from path: String, into samples: inout [UInt64]) throws {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { throw BenchError("no latency samples at \(path)") }
    defer { close(descriptor) }
    var info = stat()
    guard fstat(descriptor, &info) == 0 else { throw BenchError("cannot stat \(path)") }
    let count = Int(info.st_size) / 8
    let start = samples.count
    samples.append(contentsOf: repeatElement(0, count: count))
    try samples.withUnsafeMutableBytes { buffer in
        let target = buffer.baseAddress! + start * 8
        var offset = 0
        while offset < count * 8 {
            let got = read(descriptor, target + offset, count * 8 - offset)
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { throw BenchError("short read of \(path)") }
            offset += got
        }
    }
}

/// The "go" file: the parent writes it when every process of a scenario is ready, with the measurement
/// window as two CLOCK_MONOTONIC times (one clock for the whole machine, so every process agrees):
/// `<measure start ns> <measure end ns>`. Load generators poll for it (every millisecond).
struct GoSignal {
    let measureStart: UInt64
    let measureEnd: UInt64

    /// Writes the file atomically (a temporary name, then rename), so that no reader sees half of it.
    static func post(path: String, measureStart: UInt64, measureEnd: UInt64) throws {
        let temporary = path + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw BenchError("cannot create \(temporary): errno \(errno)") }
        var text = "\(measureStart) \(measureEnd)\n"
        _ = text.withUTF8 { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard rename(temporary, path) == 0 else { throw BenchError("cannot rename \(temporary): errno \(errno)") }
    }

    /// Reads the file if it is there.
    static func load(path: String) -> GoSignal? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 128)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let fields = String(decoding: bytes[..<count], as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let start = UInt64(fields[0]), let end = UInt64(fields[1]) else { return nil }
        return GoSignal(measureStart: start, measureEnd: end)
    }

    /// Waits for the file, calling `idle` about every millisecond meanwhile (to send heartbeats, keep warming up).
    static func wait(path: String, timeout: Double = 120, idle: () throws -> Void = {}) throws -> GoSignal {
        let deadline = monotonicNanoseconds() + nanoseconds(seconds: timeout)
        while true {
            if let signal = load(path: path) { return signal }
            guard monotonicNanoseconds() < deadline else { throw BenchError("no go signal at \(path) within \(timeout) s") }
            try idle()
            usleep(1_000)
        }
    }
}

/// Lets this thread's timed waits (ppoll) wake within microseconds rather than the default 50 µs timer
/// slack, for paced sending. Best effort: /proc/self/timerslack_ns is the main thread's (Linux ≥ 4.6).
func minimiseTimerSlack() {
    let descriptor = open("/proc/self/timerslack_ns", O_WRONLY)
    guard descriptor >= 0 else { return }
    _ = write(descriptor, "1", 1)
    close(descriptor)
}

/// Blocks until `descriptor` (a socket's edge-triggered ZMQ_FD) signals, or `nanoseconds` pass.
/// Microsecond resolution (select), unlike zmq_poll's milliseconds.
func waitReadable(_ descriptor: Int32, nanoseconds wait: UInt64) {
    var set = fd_set()
    withUnsafeMutableBytes(of: &set) { raw in
        let words = raw.bindMemory(to: UInt.self)
        words[Int(descriptor) / UInt.bitWidth] |= 1 << UInt(Int(descriptor) % UInt.bitWidth)
    }
    let micro = max(wait / 1_000, 1)
    var timeout = timeval(tv_sec: Int(micro / 1_000_000), tv_usec: Int(micro % 1_000_000))
    _ = select(descriptor + 1, &set, nil, nil, &timeout)
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

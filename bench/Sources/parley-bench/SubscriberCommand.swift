import ArgumentParser
import ParleyWire
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// `parley-bench subscriber`: a raw SUB socket on the broker's events endpoint (or the proxy's XPUB), run in
/// its own process. It subscribes to `callback.bench-pub.` with a big receive queue, prints `ready`, prints
/// `warm` at its first warm-up event, then counts the `callback.bench-pub.data` EVENTs: sequence numbers must
/// run 1, 2, 3 … `--count` (a jump is counted as lost events, a repeat or step back as a duplicate), and each
/// body's first 8 bytes are the publisher's send time, giving the event's latency. It prints one JSON line
/// when sequence `--count` has arrived, or after `--idle-seconds` without data once data began.
struct SubscriberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "subscriber",
        abstract: "Internal: a raw event subscriber.",
        shouldDisplay: false
    )

    @Option(help: "The events (XPUB) endpoint.")
    var endpoint: String

    @Option(help: "Events the publisher sends.")
    var count: Int

    @Option(help: "ZMQ_RCVHWM of the SUB socket.")
    var receiveHighWaterMark: Int32 = 10_000_000

    @Option(help: "Give up after this long without data, once data began.")
    var idleSeconds = 5.0

    @Option(help: "Where to write the latency samples.")
    var samples: String

    func run() throws {
        let context = try Context()
        let socket = try Socket(context, type: .sub)
        try socket.setLinger(milliseconds: 0)
        try socket.setReceiveHighWaterMark(receiveHighWaterMark)
        try socket.connect(endpoint)
        try socket.subscribe(BenchTopics.prefix)
        emitLine("ready")

        let dataFrame = BenchTopics.data.frame
        let warmupFrame = BenchTopics.warmup.frame
        let topic = Message()
        let header = Message()
        let body = Message()
        let extra = Message()
        var poller = Poller()
        poller.add(socket)
        var warm = false
        var tracker = SequenceCount(expected: UInt64(count))
        var latencies: [UInt64] = []
        latencies.reserveCapacity(count)
        var firstAt: UInt64 = 0
        var lastAt: UInt64 = 0
        var cpuStart = 0.0
        while !tracker.complete {
            let now = monotonicNanoseconds()
            if firstAt != 0, now - lastAt > nanoseconds(seconds: idleSeconds) { break }
            _ = try poller.poll(timeoutMilliseconds: 100)
            while try socket.receive(into: topic, dontWait: true) {
                var frames = 1
                var hasBody = false
                if topic.hasMore {
                    _ = try socket.receive(into: header)
                    frames = 2
                    if header.hasMore {
                        _ = try socket.receive(into: body)
                        hasBody = true
                        frames = 3
                        var more = body.hasMore
                        while more {
                            _ = try socket.receive(into: extra)
                            more = extra.hasMore
                        }
                    }
                }
                guard frames >= 2 else { continue }
                let isData = topic.withUnsafeBytes { $0.elementsEqual(dataFrame) }
                if !isData {
                    if !warm, topic.withUnsafeBytes({ $0.elementsEqual(warmupFrame) }) {
                        warm = true
                        emitLine("warm")
                    }
                    continue
                }
                // EVENT: sequence at bytes 3..<11. BEACONs (and anything else) are not events.
                let sequence = header.withUnsafeBytes { bytes -> UInt64? in
                    guard bytes.count >= 11, bytes[0] == protocolSignature, bytes[2] == CommandCode.event.rawValue else { return nil }
                    return readBigEndianUInt64(bytes, at: 3)
                }
                guard let sequence else { continue }
                let at = monotonicNanoseconds()
                if firstAt == 0 {
                    firstAt = at
                    cpuStart = processCPUSeconds()
                }
                lastAt = at
                tracker.record(sequence)
                if hasBody {
                    let sent = body.withUnsafeBytes { $0.count >= 8 ? readBigEndianUInt64($0, at: 0) : at }
                    latencies.append(at &- sent)
                }
            }
        }
        try writeSamples(latencies, to: samples)
        emitLine("{\"received\":\(tracker.received),\"lost\":\(tracker.lostAtEnd),\"duplicates\":\(tracker.duplicates),"
                 + "\"highest\":\(tracker.highest),\"first_ns\":\(firstAt),\"last_ns\":\(lastAt),"
                 + "\"cpu_seconds\":\(firstAt == 0 ? 0 : processCPUSeconds() - cpuStart)}")
        // Stay until the parent stops every process, so that it can still read this one's CPU time in /proc.
        while true { sleep(60) }
    }
}

/// Counts a stream that should carry sequences 1…expected exactly once, in order.
struct SequenceCount {
    let expected: UInt64
    private(set) var next: UInt64 = 1
    private(set) var received = 0
    private(set) var lost: UInt64 = 0
    private(set) var duplicates = 0

    init(expected: UInt64) { self.expected = expected }

    var highest: UInt64 { next - 1 }
    /// The last sequence arrived (whatever was lost before it).
    var complete: Bool { next > expected }

    mutating func record(_ sequence: UInt64) {
        if sequence == next {
            received += 1
            next += 1
        } else if sequence > next {
            received += 1
            lost += sequence - next
            next = sequence + 1
        } else {
            duplicates += 1
        }
    }

    /// Events never seen by the end: holes plus the missing tail.
    var lostAtEnd: UInt64 { lost + (expected >= next ? expected - next + 1 : 0) }
}

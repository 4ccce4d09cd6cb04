import ArgumentParser
import ParleyWire
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Which events path a raw publisher or subscriber talks to.
enum EventsMode: String, ExpressibleByArgument, Sendable {
    /// The broker: PUBLISH on the agent DEALER, CONFIRM back; EVENTs on the broker's XPUB.
    case broker
    /// The XSUB/XPUB proxy: a PUB sends the EVENT frames itself.
    case proxy
}

/// The topics every events scenario uses: warm-up events until the parent says go, then the counted ones.
enum BenchTopics {
    static let publisher = "bench-pub"
    static let warmup = Topic(agent: publisher, event: "warmup")!
    static let data = Topic(agent: publisher, event: "data")!
    /// What subscribers subscribe to: every topic of the publisher.
    static let prefix = Array("callback.\(publisher).".utf8)
}

/// `parley-bench publisher`: the raw event source, run in its own process.
///
/// It publishes a warm-up event every 5 ms (topic `callback.bench-pub.warmup`) until the parent's go file
/// appears — the parent writes it once every subscriber has received a warm-up event, so that no counted
/// event is lost to the slow-joiner effect — then `--count` events on `callback.bench-pub.data` as fast as
/// it may, each body starting with its send time (CLOCK_MONOTONIC ns, for the subscribers' latency).
///
/// - `broker` mode: registers as `bench-pub` and PUBLISHes on its DEALER, keeping at most `--window`
///   publishes unconfirmed (the CONFIRM is the broker's flow control); done when every CONFIRM is in.
/// - `proxy` mode: a PUB connected to the proxy's XSUB sends the same three frames the broker's XPUB sends
///   (topic frame, an EVENT header of the same size with the sequence filled in, the body); PUB has no flow
///   control, so its queue is unlimited (no loss) and it is done when the last event is handed to libzmq.
///
/// Prints `ready`, then one JSON line, and stays until the parent stops it (so that nothing queued is lost).
struct PublisherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publisher",
        abstract: "Internal: the raw event publisher.",
        shouldDisplay: false
    )

    @Option(help: "The broker's agent endpoint, or the proxy's XSUB endpoint.")
    var endpoint: String

    @Option(help: "broker or proxy.")
    var mode: EventsMode

    @Option(help: "Events to publish after the go signal.")
    var count = 100_000

    @Option(help: "Body size in bytes (at least 8: the send time).")
    var bodyBytes = 100

    @Option(help: "Broker mode: publishes kept unconfirmed at most.")
    var window = 1_000

    @Option(help: "The parent's go file.")
    var goFile: String

    func validate() throws {
        guard count >= 1, window >= 1 else { throw ValidationError("--count and --window must be at least 1") }
        guard bodyBytes >= 8 else { throw ValidationError("--body-bytes must be at least 8") }
    }

    func run() throws {
        let context = try Context()
        let report: String
        // The socket must outlive the report: closing it (linger 0) would drop what the PUB still queues.
        var socketInUse: Socket?
        defer { withExtendedLifetime(socketInUse) {} }
        switch mode {
        case .broker:
            let socket = try Socket(context, type: .dealer)
            try socket.setLinger(milliseconds: 0)
            try socket.setSendHighWaterMark(100_000)
            try socket.setReceiveHighWaterMark(100_000)
            try socket.connect(endpoint)
            // Protocol 1.1, as the Swift SDK speaks it: the broker confirms a turn's events in one CONFIRMS.
            try register(socket, agentID: BenchTopics.publisher, layer: "bench", capabilities: [], features: .confirmBatches)
            socketInUse = socket
            var publisher = BrokerPublisher(socket: socket, bodyBytes: bodyBytes)
            emitLine("ready")
            try publisher.warmUp(goFile: goFile)
            report = try publisher.publish(count: count, window: window)
        case .proxy:
            let socket = try Socket(context, type: .pub)
            try socket.setLinger(milliseconds: 0)
            try socket.setSendHighWaterMark(0)
            try socket.connect(endpoint)
            socketInUse = socket
            var publisher = ProxyPublisher(socket: socket, bodyBytes: bodyBytes)
            emitLine("ready")
            try publisher.warmUp(goFile: goFile)
            report = try publisher.publish(count: count)
        }
        emitLine(report)
        // Stay until the parent stops every process: nothing queued is lost, and /proc still has this one's CPU.
        while socketInUse != nil { sleep(60) }
    }
}

/// Publishing through the broker: PUBLISH headers from a template with the event id rewritten each time.
private struct BrokerPublisher {
    let socket: Socket
    var warmupTemplate: [UInt8]
    var dataTemplate: [UInt8]
    var body: [UInt8]
    var random = SplitMix64()
    let heartbeat = HeaderEncoder.encode(.heartbeat)
    var nextHeartbeat: UInt64 = 0
    var unconfirmed = 0
    var confirmed = 0
    var errors = 0
    let header = Message()
    let extra = Message()

    init(socket: Socket, bodyBytes: Int) {
        self.socket = socket
        warmupTemplate = HeaderEncoder.encode(.publish(Publish(eventID: .none, topic: BenchTopics.warmup, contentType: "application/octet-stream")))
        dataTemplate = HeaderEncoder.encode(.publish(Publish(eventID: .none, topic: BenchTopics.data, contentType: "application/octet-stream")))
        body = [UInt8](repeating: 0x65, count: bodyBytes)
    }

    /// A warm-up event every 5 ms until the go file appears; then waits for their CONFIRMs.
    mutating func warmUp(goFile: String) throws {
        nextHeartbeat = monotonicNanoseconds() + 1_000_000_000
        var nextWarmup: UInt64 = 0
        _ = try GoSignal.wait(path: goFile) {
            let now = monotonicNanoseconds()
            if now >= nextWarmup {
                try send(warmup: true)
                nextWarmup = now + 5_000_000
            }
            try drain()
            try heartbeatIfDue(now)
        }
        let deadline = monotonicNanoseconds() + 10_000_000_000
        while unconfirmed > 0, monotonicNanoseconds() < deadline {
            try drain()
            usleep(200)
        }
        confirmed = 0
        errors = 0
    }

    /// `count` events with at most `window` unconfirmed; returns the JSON figures.
    mutating func publish(count: Int, window: Int) throws -> String {
        let cpuStart = processCPUSeconds()
        let descriptor = try socket.fileDescriptor
        let firstSend = monotonicNanoseconds()
        var sent = 0
        while confirmed + errors < count {
            while sent < count, unconfirmed < window {
                try send(warmup: false)
                sent += 1
            }
            try drain()
            let now = monotonicNanoseconds()
            try heartbeatIfDue(now)
            if confirmed + errors < count, !(try socket.events.contains(.readable)) {
                waitReadable(descriptor, nanoseconds: 100_000_000)
            }
            if now - firstSend > 300_000_000_000 { throw BenchError("publisher: not confirmed within 300 s") }
        }
        let lastConfirm = monotonicNanoseconds()
        _ = try? socket.send(HeaderEncoder.encode(.bye), dontWait: true)
        return "{\"published\":\(count),\"confirmed\":\(confirmed),\"errors\":\(errors),\"first_send_ns\":\(firstSend),"
            + "\"done_ns\":\(lastConfirm),\"cpu_seconds\":\(processCPUSeconds() - cpuStart)}"
    }

    /// One PUBLISH with a fresh event id and the send time in the body.
    private mutating func send(warmup: Bool) throws {
        let high = random.next(), low = random.next()
        writeBigEndianUInt64(monotonicNanoseconds(), into: &body, at: 0)
        if warmup {
            writeBigEndianUInt64(high, into: &warmupTemplate, at: 3)
            writeBigEndianUInt64(low, into: &warmupTemplate, at: 11)
            try socket.send(warmupTemplate, more: true)
        } else {
            writeBigEndianUInt64(high, into: &dataTemplate, at: 3)
            writeBigEndianUInt64(low, into: &dataTemplate, at: 11)
            try socket.send(dataTemplate, more: true)
        }
        try socket.send(body)
        unconfirmed += 1
    }

    private mutating func heartbeatIfDue(_ now: UInt64) throws {
        guard now >= nextHeartbeat else { return }
        _ = try socket.send(heartbeat, dontWait: true)
        nextHeartbeat = now + 1_000_000_000
    }

    /// Reads CONFIRMs (and ERRORs) until EAGAIN.
    private mutating func drain() throws {
        while try socket.receive(into: header, dontWait: true) {
            var reason = ""
            var more = header.hasMore
            while more {
                _ = try socket.receive(into: extra)
                reason = extra.string
                more = extra.hasMore
            }
            let code = header.withUnsafeBytes { $0.count >= 3 && $0[0] == protocolSignature ? $0[2] : 0 }
            switch code {
            case CommandCode.confirm.rawValue:
                unconfirmed -= 1
                confirmed += 1
            case CommandCode.confirms.rawValue:
                // The count: a u16 after the first sequence and the timestamp.
                let count = header.withUnsafeBytes { $0.count >= 21 ? Int($0[19]) << 8 | Int($0[20]) : 0 }
                unconfirmed -= count
                confirmed += count
            case CommandCode.error.rawValue:
                unconfirmed -= 1
                errors += 1
                if errors <= 5 { emitError("publisher: ERROR from the broker: \(reason)") }
            case CommandCode.bye.rawValue:
                throw BenchError("publisher: BYE from the broker")
            default:
                continue  // HEARTBEAT
            }
        }
    }
}

/// Publishing to the proxy: the three frames the broker's XPUB would send, the sequence filled in.
private struct ProxyPublisher {
    let socket: Socket
    let warmupFrame = BenchTopics.warmup.frame
    let dataFrame = BenchTopics.data.frame
    var warmupHeader: [UInt8]
    var dataHeader: [UInt8]
    var body: [UInt8]
    var warmupSequence: UInt64 = 0

    init(socket: Socket, bodyBytes: Int) {
        self.socket = socket
        func header(_ topic: Topic) -> [UInt8] {
            HeaderEncoder.encode(.event(EventHeader(sequence: 0, timestamp: 1_764_129_600_000, eventID: CallbackID(high: 1, low: 2),
                                                    topic: topic, contentType: "application/octet-stream")))
        }
        warmupHeader = header(BenchTopics.warmup)
        dataHeader = header(BenchTopics.data)
        body = [UInt8](repeating: 0x65, count: bodyBytes)
    }

    mutating func warmUp(goFile: String) throws {
        var nextWarmup: UInt64 = 0
        _ = try GoSignal.wait(path: goFile) {
            let now = monotonicNanoseconds()
            guard now >= nextWarmup else { return }
            warmupSequence += 1
            try send(warmup: true, sequence: warmupSequence)
            nextWarmup = now + 5_000_000
        }
    }

    mutating func publish(count: Int) throws -> String {
        let cpuStart = processCPUSeconds()
        let firstSend = monotonicNanoseconds()
        for sequence in 1...UInt64(count) {
            try send(warmup: false, sequence: sequence)
        }
        let done = monotonicNanoseconds()
        return "{\"published\":\(count),\"confirmed\":0,\"errors\":0,\"first_send_ns\":\(firstSend),"
            + "\"done_ns\":\(done),\"cpu_seconds\":\(processCPUSeconds() - cpuStart)}"
    }

    /// Topic frame, EVENT header with `sequence`, body with the send time.
    private mutating func send(warmup: Bool, sequence: UInt64) throws {
        writeBigEndianUInt64(monotonicNanoseconds(), into: &body, at: 0)
        if warmup {
            writeBigEndianUInt64(sequence, into: &warmupHeader, at: 3)
            try socket.send(warmupFrame, more: true)
            try socket.send(warmupHeader, more: true)
        } else {
            writeBigEndianUInt64(sequence, into: &dataHeader, at: 3)
            try socket.send(dataFrame, more: true)
            try socket.send(dataHeader, more: true)
        }
        try socket.send(body)
    }
}

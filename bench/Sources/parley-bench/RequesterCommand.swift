import ArgumentParser
import ParleyWire
import ZeroMQ

extension LoadMode: ExpressibleByArgument {}

/// `parley-bench requester`: the client load generator, run in its own process.
///
/// Keeps `--window` requests in flight: each answer sends the next request at once. It warms up for
/// `--warmup` seconds, prints `measuring`, counts answers for `--seconds`, then prints its figures as one
/// JSON line on stdout. In `broker` mode it speaks the agent protocol (HELLO, REQUEST to `cap:echo`,
/// RESULT); in `raw` mode it sends the same frames to the forwarder, which returns them as they are.
struct RequesterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requester",
        abstract: "Internal: the requesting load generator.",
        shouldDisplay: false
    )

    @Option(help: "Endpoint to connect to (the broker, or the forwarder's frontend).")
    var endpoint: String

    @Option(help: "broker (the Parley protocol) or raw (echoed frames through the forwarder).")
    var mode: LoadMode

    @Option(help: "Requests kept in flight.")
    var window = 100

    @Option(help: "Measured seconds.")
    var seconds = 5.0

    @Option(help: "Warm-up seconds before measuring.")
    var warmup = 0.5

    @Option(help: "Body size in bytes.")
    var bodyBytes = 100

    @Option(name: .customLong("timeout-ms"), help: "Timeout carried in every REQUEST.")
    var timeoutMilliseconds: UInt32 = 30_000

    func validate() throws {
        guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        guard seconds > 0, warmup >= 0 else { throw ValidationError("--seconds must be positive, --warmup not negative") }
        guard bodyBytes >= 0 else { throw ValidationError("--body-bytes cannot be negative") }
    }

    func run() throws {
        let context = try Context()
        let socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 200)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.connect(endpoint)
        if mode == .broker {
            try register(socket, agentID: "bench-req", capabilities: [])
        }
        var generator = Generator(socket: socket, mode: mode, window: window, bodyBytes: bodyBytes,
                                  timeoutMilliseconds: timeoutMilliseconds)
        let report = try generator.run(warmup: warmup, seconds: seconds)
        if mode == .broker {
            _ = try? socket.send(HeaderEncoder.encode(.bye), dontWait: true)
        }
        emitLine(report)
    }
}

/// Sends HELLO and waits (at most 10 s) for WELCOME. Shared by both protocol-speaking generators.
func register(_ socket: Socket, agentID: String, capabilities: [String]) throws {
    var generator = SplitMix64()
    let hello = Header.hello(Hello(instance: generator.next(), agentID: agentID, layer: "bench", capabilities: capabilities))
    try socket.send(HeaderEncoder.encode(hello))
    let deadline = monotonicNanoseconds() + nanoseconds(seconds: 10)
    var poller = Poller()
    poller.add(socket)
    let header = Message()
    let body = Message()
    while true {
        let now = monotonicNanoseconds()
        guard now < deadline else { throw BenchError("\(agentID): no WELCOME from the broker within 10 s") }
        _ = try poller.poll(timeoutMilliseconds: Int((deadline - now) / 1_000_000) + 1)
        while try socket.receive(into: header, dontWait: true) {
            var reason = ""
            var more = header.hasMore
            while more {
                _ = try socket.receive(into: body)
                reason = body.string
                more = body.hasMore
            }
            switch header.withUnsafeBytes({ try? HeaderDecoder.decode($0) }) {
            case .welcome?:
                return
            case .error(let notice)?:
                throw BenchError("\(agentID): HELLO refused with \(notice.status): \(reason)")
            case .bye?:
                throw BenchError("\(agentID): the broker said BYE during registration")
            default:
                continue
            }
        }
    }
}

/// The request loop. One thread, one socket: poll, drain until EAGAIN, answer each completion with a new request.
private struct Generator {
    let socket: Socket
    let mode: LoadMode
    let window: Int
    /// An encoded REQUEST header whose callback id (bytes 3..<19) is overwritten for every request.
    var template: [UInt8]
    let body: [UInt8]
    let heartbeat = HeaderEncoder.encode(.heartbeat)
    var random = SplitMix64()
    /// Send time of every request in flight, by callback id.
    var inFlight: [CallbackID: UInt64]
    var samples: [UInt64] = []
    var completed = 0
    var failures = 0
    var unmatched = 0

    init(socket: Socket, mode: LoadMode, window: Int, bodyBytes: Int, timeoutMilliseconds: UInt32) {
        self.socket = socket
        self.mode = mode
        self.window = window
        let request = Request(callbackID: .none, kind: .help, timeoutMilliseconds: timeoutMilliseconds,
                              target: .capability("echo"), contentType: "application/octet-stream")
        template = HeaderEncoder.encode(.request(request))
        body = [UInt8](repeating: 0x61, count: bodyBytes)
        inFlight = Dictionary(minimumCapacity: window * 2)
    }

    mutating func run(warmup: Double, seconds: Double) throws -> String {
        let start = monotonicNanoseconds()
        let measureStart = start + nanoseconds(seconds: warmup)
        let measureEnd = measureStart + nanoseconds(seconds: seconds)
        samples.reserveCapacity(min(Int(seconds * 400_000), 8_000_000))
        var measuring = false
        var cpuAtStart = 0.0
        var nextHeartbeat = start + 1_000_000_000
        let header = Message()
        let reply = Message()
        let extra = Message()
        var poller = Poller()
        poller.add(socket)

        for _ in 0..<window { try sendRequest(now: monotonicNanoseconds()) }
        while true {
            var received = false
            while try socket.receive(into: header, dontWait: true) {
                received = true
                if header.hasMore {
                    _ = try socket.receive(into: reply)
                    var more = reply.hasMore
                    while more {
                        _ = try socket.receive(into: extra)
                        more = extra.hasMore
                    }
                }
                let now = monotonicNanoseconds()
                let counted = now >= measureStart && now < measureEnd
                guard let (callbackID, ok) = try answer(in: header, reply: reply) else { continue }
                guard let sentAt = inFlight.removeValue(forKey: callbackID) else {
                    unmatched += 1
                    continue
                }
                if counted {
                    if ok {
                        completed += 1
                        samples.append(now &- sentAt)
                    } else {
                        failures += 1
                    }
                }
                if now < measureEnd { try sendRequest(now: now) }
            }
            let now = monotonicNanoseconds()
            if !measuring, now >= measureStart {
                measuring = true
                cpuAtStart = processCPUSeconds()
                emitLine("measuring")
            }
            if now >= measureEnd { break }
            if mode == .broker, now >= nextHeartbeat {
                try socket.send(heartbeat, dontWait: true)
                nextHeartbeat = now + 1_000_000_000
            }
            if !received {
                let wait = min((measureEnd - now) / 1_000_000 + 1, 100)
                _ = try poller.poll(timeoutMilliseconds: Int(wait))
            }
        }
        let cpu = processCPUSeconds() - cpuAtStart
        let latency = LatencySummary(sorting: &samples)
        let rate = Double(completed) / seconds
        return "{\"messages\":\(completed),\"seconds\":\(seconds),\"rate\":\(rate),\"p50_us\":\(latency.p50),"
            + "\"p99_us\":\(latency.p99),\"p999_us\":\(latency.p999),\"max_us\":\(latency.max),"
            + "\"cpu_seconds\":\(cpu),\"failures\":\(failures),\"unmatched\":\(unmatched),\"in_flight_at_end\":\(inFlight.count)}"
    }

    private mutating func sendRequest(now: UInt64) throws {
        let callbackID = CallbackID(high: random.next(), low: random.next())
        writeBigEndianUInt64(callbackID.high, into: &template, at: 3)
        writeBigEndianUInt64(callbackID.low, into: &template, at: 11)
        inFlight[callbackID] = now
        try socket.send(template, more: true)
        try socket.send(body)
    }

    /// The callback id an answer is for and whether it succeeded; nil for anything that is not an answer.
    private func answer(in header: Message, reply: Message) throws -> (CallbackID, Bool)? {
        switch mode {
        case .raw:
            // The forwarder returns the REQUEST header itself: the callback id is at the same place.
            return header.withUnsafeBytes { bytes in
                guard bytes.count >= 19 else { return nil }
                return (CallbackID(high: readBigEndianUInt64(bytes, at: 3), low: readBigEndianUInt64(bytes, at: 11)), true)
            }
        case .broker:
            let decoded = header.withUnsafeBytes { bytes in Swift.Result { () throws(DecodeError) in try HeaderDecoder.decode(bytes) } }
            switch decoded {
            case .success(.result(let result)):
                if result.status != .ok, failures < 5 {
                    emitError("requester: \(result.callbackID) ended with \(result.status): \(reply.string)")
                }
                return (result.callbackID, result.status == .ok)
            case .success(.heartbeat), .success(.extended):
                return nil
            case .success(.error(let notice)):
                emitError("requester: ERROR \(notice.status) for command 0x\(String(notice.command, radix: 16)): \(reply.string)")
                return nil
            case .success(.bye):
                throw BenchError("requester: the broker said BYE")
            case .success(let other):
                emitError("requester: unexpected \(other.code)")
                return nil
            case .failure(let error):
                emitError("requester: undecodable header: \(error)")
                return nil
            }
        }
    }
}

import ArgumentParser
import ParleyWire
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

extension LoadMode: ExpressibleByArgument {}

extension RequestKind: ExpressibleByArgument {
    public init?(argument: String) {
        guard let kind = RequestKind.allCases.first(where: { $0.description == argument }) else { return nil }
        self = kind
    }
}

/// `parley-bench requester`: the client load generator, run in its own process.
///
/// In `broker` mode it registers (HELLO → WELCOME) with the broker or the gateway, then sends single probe
/// requests until one is answered OK (the responder, or the gateway's link to the broker, is up), prints
/// `ready` and waits for the parent's go file. It then sends load until the measurement window ends and
/// prints its figures as one JSON line; its latency samples go to `--samples`. In `raw` mode it sends the
/// same frames to the forwarder, which returns them as they are.
///
/// Two ways to load:
/// - closed loop (`--rate 0`, the default): `--window` requests in flight, each answer sends the next one at
///   once. Counted: answers arriving inside the window; latency from the actual send.
/// - open loop (`--rate R`): requests are due at fixed intended times (1/R apart) whatever the answers do,
///   with at most `--max-in-flight` outstanding. Counted: every request whose **intended** time falls in
///   the window, however late its answer comes; latency from the intended time (corrected for coordinated
///   omission: a stall delays the sends, and their wait counts as latency).
struct RequesterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "requester",
        abstract: "Internal: the requesting load generator.",
        shouldDisplay: false
    )

    @Option(help: "Endpoint to connect to (the broker, the gateway, or the forwarder's frontend).")
    var endpoint: String

    @Option(help: "broker (the Parley protocol) or raw (echoed frames through the forwarder).")
    var mode: LoadMode

    @Option(help: "Agent id to register as (broker mode).")
    var agentID = "bench-req"

    @Option(help: "Layer to register in (broker mode).")
    var layer = "bench"

    @Option(help: "Target of every REQUEST.")
    var target = "cap:echo"

    @Option(help: "Kind of every REQUEST: help, clarification, coordinate, call.")
    var kind: RequestKind = .help

    @Option(help: "Closed loop: requests kept in flight.")
    var window = 100

    @Option(help: "Open loop: requests per second at fixed intended times (0: closed loop).")
    var rate = 0.0

    @Option(help: "Open loop: most requests outstanding at once.")
    var maxInFlight = 20_000

    @Option(name: .customLong("pace-us"), help: "Open loop: the shortest sleep between sends, in µs (a request may go out this much late).")
    var paceMicroseconds = 50

    @Option(help: "Body size in bytes.")
    var bodyBytes = 100

    @Option(help: "The parent's go file (see GoSignal).")
    var goFile: String

    @Option(help: "Where to write the latency samples.")
    var samples: String

    @Option(name: .customLong("timeout-ms"), help: "Timeout carried in every REQUEST.")
    var timeoutMilliseconds: UInt32 = 30_000

    func validate() throws {
        guard window >= 1, maxInFlight >= 1 else { throw ValidationError("--window and --max-in-flight must be at least 1") }
        guard rate >= 0 else { throw ValidationError("--rate cannot be negative") }
        guard bodyBytes >= 0 else { throw ValidationError("--body-bytes cannot be negative") }
        guard Target(target) != nil else { throw ValidationError("--target \(target) is not a target") }
    }

    func run() throws {
        minimiseTimerSlack()
        let context = try Context()
        let socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 200)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.connect(endpoint)
        var generator = Generator(socket: socket, mode: mode, target: Target(target)!, kind: kind, bodyBytes: bodyBytes,
                                  timeoutMilliseconds: timeoutMilliseconds)
        if mode == .broker {
            try register(socket, agentID: agentID, layer: layer, capabilities: [])
            try generator.probe(agentID: agentID)
        }
        emitLine("ready")
        let heartbeat = HeaderEncoder.encode(.heartbeat)
        var nextHeartbeat = monotonicNanoseconds() + 1_000_000_000
        let go = try GoSignal.wait(path: goFile) {
            guard mode == .broker, monotonicNanoseconds() >= nextHeartbeat else { return }
            _ = try socket.send(heartbeat, dontWait: true)
            nextHeartbeat = monotonicNanoseconds() + 1_000_000_000
        }
        let report = rate > 0
            ? try generator.runOpenLoop(rate: rate, maxInFlight: maxInFlight, pace: UInt64(max(paceMicroseconds, 1)) * 1_000, go: go)
            : try generator.runClosedLoop(window: window, go: go)
        try writeSamples(generator.samples, to: samples)
        if mode == .broker {
            _ = try? socket.send(HeaderEncoder.encode(.bye), dontWait: true)
        }
        emitLine(report)
    }
}

/// Sends HELLO (asking for `features`, protocol 1.1, when given) and waits (at most 10 s) for WELCOME. Shared by every
/// protocol-speaking raw generator.
func register(_ socket: Socket, agentID: String, layer: String, capabilities: [String], features: Features? = nil) throws {
    var generator = SplitMix64()
    let hello = Header.hello(Hello(instance: generator.next(), agentID: agentID, layer: layer, capabilities: capabilities,
                                   features: features))
    try socket.send(HeaderEncoder.encode(hello))
    let deadline = monotonicNanoseconds() + nanoseconds(seconds: 10)
    var poller = Poller()
    poller.add(socket)
    let header = Message()
    let body = Message()
    while true {
        let now = monotonicNanoseconds()
        guard now < deadline else { throw BenchError("\(agentID): no WELCOME within 10 s") }
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
                throw BenchError("\(agentID): BYE during registration")
            default:
                continue
            }
        }
    }
}

/// One answer: when its request started (actual or intended), when the answer arrived, whether it was OK.
private struct Answer {
    let start: UInt64
    let at: UInt64
    let ok: Bool
}

/// The request loops. One thread, one socket: drain until EAGAIN, send what is due, then wait on the socket's
/// ZMQ_FD with a nanosecond timeout (ppoll), re-reading ZMQ_EVENTS first because that descriptor is edge-triggered.
private struct Generator {
    let socket: Socket
    let mode: LoadMode
    /// An encoded REQUEST header whose callback id (bytes 3..<19) is overwritten for every request.
    var template: [UInt8]
    /// The body; its first 8 bytes are free for the caller (the forwarder echoes them, the broker too).
    let body: [UInt8]
    let heartbeat = HeaderEncoder.encode(.heartbeat)
    var random = SplitMix64()
    /// Start (actual or intended) time of every request in flight, by callback id.
    var inFlight: [CallbackID: UInt64] = Dictionary(minimumCapacity: 4_096)
    var samples: [UInt64] = []
    var completed = 0
    var failures = 0
    var unmatched = 0
    var nextHeartbeat: UInt64 = 0
    /// Answers received by the last `drain`, in order.
    var answers: [Answer] = []
    var reportFailures = false
    var lastFailureText = ""
    let header = Message()
    let reply = Message()
    let extra = Message()

    init(socket: Socket, mode: LoadMode, target: Target, kind: RequestKind, bodyBytes: Int, timeoutMilliseconds: UInt32) {
        self.socket = socket
        self.mode = mode
        let request = Request(callbackID: .none, kind: kind, timeoutMilliseconds: timeoutMilliseconds,
                              target: target, contentType: "application/octet-stream")
        template = HeaderEncoder.encode(.request(request))
        body = [UInt8](repeating: 0x61, count: bodyBytes)
    }

    /// One request at a time until one is answered OK (15 s at most): the whole path is up.
    mutating func probe(agentID: String) throws {
        let descriptor = try socket.fileDescriptor
        let deadline = monotonicNanoseconds() + nanoseconds(seconds: 15)
        var lastProblem = "no answer"
        while monotonicNanoseconds() < deadline {
            try sendRequest(startedAt: monotonicNanoseconds())
            let answerDeadline = monotonicNanoseconds() + 2_000_000_000
            var outcome: Answer?
            while outcome == nil, monotonicNanoseconds() < answerDeadline {
                if !(try drain()), !(try socket.events.contains(.readable)) { waitReadable(descriptor, nanoseconds: 1_000_000) }
                outcome = answers.last
                answers.removeAll(keepingCapacity: true)
            }
            if let outcome, outcome.ok { reportFailures = true; return }
            lastProblem = outcome == nil ? "no answer within 2 s" : lastFailureText
            inFlight.removeAll()
            usleep(50_000)
        }
        throw BenchError("\(agentID): no probe request answered OK within 15 s (last: \(lastProblem))")
    }

    /// Closed loop: keeps `window` requests in flight until the window ends.
    mutating func runClosedLoop(window: Int, go: GoSignal) throws -> String {
        samples.reserveCapacity(min(Int(Double(go.measureEnd - go.measureStart) / 1e9 * 400_000), 8_000_000))
        nextHeartbeat = monotonicNanoseconds() + 1_000_000_000
        var measuring = false
        var cpuAtStart = processCPUSeconds()
        let descriptor = try socket.fileDescriptor
        for _ in 0..<window { try sendRequest(startedAt: monotonicNanoseconds()) }
        while true {
            let received = try drain()
            for answer in answers {
                if answer.at >= go.measureStart && answer.at < go.measureEnd { count(answer) }
                if answer.at < go.measureEnd { try sendRequest(startedAt: monotonicNanoseconds()) }
            }
            answers.removeAll(keepingCapacity: true)
            let now = monotonicNanoseconds()
            if !measuring, now >= go.measureStart {
                measuring = true
                cpuAtStart = processCPUSeconds()
                emitLine("measuring")
            }
            if now >= go.measureEnd { break }
            try heartbeatIfDue(now)
            if !received, !(try socket.events.contains(.readable)) {
                waitReadable(descriptor, nanoseconds: min(go.measureEnd - now, 100_000_000))
            }
        }
        let seconds = Double(go.measureEnd - go.measureStart) / 1e9
        return figures(seconds: seconds, cpu: processCPUSeconds() - cpuAtStart, offered: 0, incomplete: 0)
    }

    /// Open loop: request i is due at (load start + i / rate); only requests due inside the window are
    /// measured, each from its intended time, and the loop waits (30 s at most) for all of their answers.
    /// Waking for every single request would cost the generator a system call and a context switch per
    /// request (most of a core at tens of thousands per second, on a machine whose cores the broker needs),
    /// so it sleeps at least `pace` ns and then sends everything that fell due meanwhile, each request
    /// keeping its intended time: the generator's own lateness (at most `pace`) is inside the latency.
    mutating func runOpenLoop(rate: Double, maxInFlight: Int, pace: UInt64, go: GoSignal) throws -> String {
        let interval = 1e9 / rate
        let loadStart = monotonicNanoseconds()
        let seconds = Double(go.measureEnd - go.measureStart) / 1e9
        samples.reserveCapacity(Int(seconds * rate * 1.1) + 16)
        nextHeartbeat = loadStart + 1_000_000_000
        let descriptor = try socket.fileDescriptor
        var index: UInt64 = 0
        var measuring = false
        var cpuAtStart = processCPUSeconds()
        var measuredOutstanding = 0  // requests intended inside the window, not answered yet
        while true {
            _ = try drain()
            for answer in answers where answer.start >= go.measureStart && answer.start < go.measureEnd {
                measuredOutstanding -= 1
                count(answer)
            }
            answers.removeAll(keepingCapacity: true)
            var now = monotonicNanoseconds()
            if !measuring, now >= go.measureStart {
                measuring = true
                cpuAtStart = processCPUSeconds()
                emitLine("measuring")
            }
            // Send everything due by now; a late send keeps its intended time.
            var nextDue = UInt64.max
            while inFlight.count < maxInFlight {
                let intended = loadStart &+ UInt64(Double(index) * interval)
                guard intended < go.measureEnd else { break }
                guard intended <= now else { nextDue = intended; break }
                try sendRequest(startedAt: intended)
                if intended >= go.measureStart { measuredOutstanding += 1 }
                index += 1
            }
            now = monotonicNanoseconds()
            if now >= go.measureEnd, measuredOutstanding <= 0 || now >= go.measureEnd + 30_000_000_000 { break }
            try heartbeatIfDue(now)
            if !(try socket.events.contains(.readable)) {
                let until = min(max(nextDue, now + pace), now + 100_000_000)
                if until > now { waitReadable(descriptor, nanoseconds: until - now) }
            }
        }
        let cpu = processCPUSeconds() - cpuAtStart
        // Measured requests still unanswered after 30 s count with the time they waited.
        let end = monotonicNanoseconds()
        var incomplete = 0
        for start in inFlight.values where start >= go.measureStart && start < go.measureEnd {
            samples.append(end &- start)
            incomplete += 1
        }
        return figures(seconds: seconds, cpu: cpu, offered: rate, incomplete: incomplete)
    }

    private mutating func count(_ answer: Answer) {
        if answer.ok {
            completed += 1
            samples.append(answer.at &- answer.start)
        } else {
            failures += 1
        }
    }

    private func figures(seconds: Double, cpu: Double, offered: Double, incomplete: Int) -> String {
        "{\"messages\":\(completed),\"seconds\":\(seconds),\"cpu_seconds\":\(cpu),\"failures\":\(failures),"
            + "\"unmatched\":\(unmatched),\"incomplete\":\(incomplete),\"offered_rate\":\(offered)}"
    }

    private mutating func heartbeatIfDue(_ now: UInt64) throws {
        guard mode == .broker, now >= nextHeartbeat else { return }
        _ = try socket.send(heartbeat, dontWait: true)
        nextHeartbeat = now + 1_000_000_000
    }

    /// Receives until EAGAIN, appending one `Answer` to `answers` per answer to a request in flight.
    /// Returns whether anything arrived.
    private mutating func drain() throws -> Bool {
        var received = false
        while try socket.receive(into: header, dontWait: true) {
            received = true
            var hasBody = false
            if header.hasMore {
                _ = try socket.receive(into: reply)
                hasBody = true
                var more = reply.hasMore
                while more {
                    _ = try socket.receive(into: extra)
                    more = extra.hasMore
                }
            }
            guard let (callbackID, ok) = try answer(in: header, reply: reply, hasBody: hasBody) else { continue }
            let now = monotonicNanoseconds()
            guard let start = inFlight.removeValue(forKey: callbackID) else {
                unmatched += 1
                continue
            }
            if !ok { lastFailureText = hasBody ? reply.string : "" }
            answers.append(Answer(start: start, at: now, ok: ok))
        }
        return received
    }

    @discardableResult
    private mutating func sendRequest(startedAt start: UInt64) throws -> CallbackID {
        let callbackID = CallbackID(high: random.next(), low: random.next())
        writeBigEndianUInt64(callbackID.high, into: &template, at: 3)
        writeBigEndianUInt64(callbackID.low, into: &template, at: 11)
        inFlight[callbackID] = start
        try socket.send(template, more: true)
        try socket.send(body)
        return callbackID
    }

    /// The callback id an answer is for and whether it succeeded; nil for anything that is not an answer.
    private mutating func answer(in header: Message, reply: Message, hasBody: Bool) throws -> (CallbackID, Bool)? {
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
                if result.status != .ok, reportFailures, failures < 5 {
                    emitError("requester: \(result.callbackID) ended with \(result.status): \(hasBody ? reply.string : "")")
                }
                return (result.callbackID, result.status == .ok)
            case .success(.heartbeat), .success(.extended):
                return nil
            case .success(.error(let notice)):
                emitError("requester: ERROR \(notice.status) for command 0x\(String(notice.command, radix: 16)): \(hasBody ? reply.string : "")")
                return nil
            case .success(.bye):
                throw BenchError("requester: BYE from the broker or gateway")
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

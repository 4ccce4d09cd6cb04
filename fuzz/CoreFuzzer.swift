@testable import ParleyBrokerCore
import ParleyWire

#if canImport(Glibc)
import Glibc
#endif

// libFuzzer target: the broker core fed with decoded commands (see CoreScript.swift for the input
// language and CoreInvariants.swift for what is checked after every step).
//
//   .build/fuzz/fuzz-core fuzz/corpus/core          # fuzz
//   .build/fuzz/fuzz-core crash-<sha1>              # replay one input (prints the script when FUZZ_TRACE=1)
//   FUZZ_WRITE_SEEDS=fuzz/corpus/core .build/fuzz/fuzz-core   # (re)write the seed corpus and exit

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCore(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var reader = ScriptReader(bytes)
    let setup = ScriptConfiguration(reader.byte(), reader.byte())
    var runner = ScriptRunner(setup)
    runner.run(&reader)
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzCoreInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    if let directory = getenv("FUZZ_WRITE_SEEDS") {
        let path = String(cString: directory)
        for (name, script) in CoreSeeds.all { writeSeed(directory: path, name: name, bytes: script.bytes) }
        print("wrote \(CoreSeeds.all.count) core seeds to \(path)")
        exit(0)
    }
    tracing = getenv("FUZZ_TRACE") != nil
    return 0
}

/// Prints every step when FUZZ_TRACE is set (for reading a crash input).
nonisolated(unsafe) var tracing = false

/// One line to stderr (unbuffered), so that the steps before a failing check are shown.
func traceLine(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

func writeSeed(directory: String, name: String, bytes: [UInt8]) {
    guard let file = fopen(directory + "/" + name, "wb") else { fatalError("cannot write \(directory)/\(name)") }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

/// One record of the simulated event journal (EventJournal's kinds 1 to 4).
enum JournalRecord {
    case event(EventHeader, FuzzPayload?)
    case latest(Topic, UInt64)
    case topicFloor(String, UInt64)
    case mark(TopicMark)
}

/// What one step handed to the core, so the checker can tell which answers it explains.
struct StepInput {
    var label: String
    var peer: PeerID?
    /// The decoded header given to `handle`, if the step was a message that decoded.
    var header: Header?
    /// The step was a refusal (`refuseMalformed`) naming this callback id (or none).
    var refused = false
    var refusedCallbackID: CallbackID?
    var bodyFingerprint = emptyPayloadFingerprint
    var isTick = false

    /// The callback id the message concerns: a REQUEST's, FORWARD's, CANCEL's or a refusal's.
    var callbackID: CallbackID? {
        switch header {
        case .request(let request)?: request.callbackID
        case .forward(let forward)?: forward.request.callbackID
        case .cancel(let id)?: id
        default: refused ? refusedCallbackID : nil
        }
    }
}

/// Runs one script against a fresh core, checking the invariants after every step.
struct ScriptRunner {
    var core: BrokerCore<FuzzPayload>
    var checker: Checker
    var now: UInt64 = 1_000_000
    /// DELIVERs seen, newest last (at most 16), so REPLY and PROGRESS can name real deliveries.
    var seenDeliveries: [(id: UInt64, peer: PeerID)] = []
    var stopped = false
    let keyRing: KeyRing?
    let setup: ScriptConfiguration
    var restarts = 0
    /// The event journal as the reactor writes it (with `journaling`): what a restart reads back.
    var journalFile: [JournalRecord] = []
    static let maxSteps = 400
    /// Wall-clock milliseconds minus monotonic ones, the same across restarts.
    static let wallClockOffset: UInt64 = 1_767_225_600_000 - 1_000_000

    init(_ setup: ScriptConfiguration) {
        self.setup = setup
        keyRing = setup.keyRing
        core = BrokerCore(configuration: setup.configuration, now: now, wallClock: now + Self.wallClockOffset, keyRing: setup.keyRing,
                          seed: setup.seed(restarts: 0))
        checker = Checker(configuration: setup.configuration)
    }

    /// The broker process restarts: a new core reads the journal back as Broker.openJournal does (events with
    /// their age, topics' latest sequences), and the journal is compacted to what the new core retains.
    /// Requests, agents and outcomes are gone (the SDKs register and resend); events must continue.
    mutating func restart() {
        let old = core
        let wallNow = now + Self.wallClockOffset
        restarts += 1
        core = BrokerCore(configuration: old.configuration, now: now, wallClock: wallNow, keyRing: keyRing, seed: setup.seed(restarts: restarts))
        for record in journalFile {
            switch record {
            case .event(let header, let body):
                core.restore(header, body: body, age: wallNow &- min(header.timestamp, wallNow), now: now)
            case .latest(let topic, let latest):
                core.restoreLatest(topic, latest)
            case .topicFloor(let agent, let floor):
                core.restoreTopicFloor(floor, of: agent)
            case .mark(let mark):
                core.restore(mark)
            }
        }
        checker.restarted(old: old, new: core, journal: journalFile)
        journalFile = core.topicFloors.map { .topicFloor($0.agent, $0.floor) }
        core.forEachTopic { topic, latest, events in
            if events.isEmpty { journalFile.append(.latest(topic, latest)) }
            for event in events { journalFile.append(.event(event.header, event.body)) }
        }
        seenDeliveries.removeAll()
        if tracing { traceLine("[restart t=\(now)] \(core.topics.count) topic(s) restored") }
    }

    mutating func run(_ reader: inout ScriptReader) {
        var steps = 0
        while !reader.atEnd, !stopped, steps < Self.maxSteps {
            step(&reader)
            steps += 1
        }
        finish()
    }

    /// Lets every request end: the clock runs past the longest deadline; nothing may stay pending.
    mutating func finish() {
        guard !stopped else { return }
        let end = now + core.configuration.maxDeadlineMilliseconds + 2 * core.configuration.heartbeatMilliseconds
        while now < end {
            now += core.configuration.heartbeatMilliseconds
            perform(StepInput(label: "final tick", isTick: true)) { core, now in core.tick(now: now) }
        }
        checker.require(core.pending.count == 0 && core.pendingIndex.count == 0,
                        "\(core.pending.count) request(s) still pending after every deadline passed")
        checker.checkSnapshot(core)
    }

    private static func peer(_ byte: UInt8) -> PeerID { Tables.peers[Int(byte) % Tables.peerCount] }

    private static func body(_ byte: UInt8) -> FuzzPayload? { Tables.pick(Tables.bodies, byte).map(FuzzPayload.init) }

    private mutating func step(_ reader: inout ScriptReader) {
        let op = Op(rawValue: reader.byte() % UInt8(Op.allCases.count))!
        switch op {
        case .raw:
            let peer = Self.peer(reader.byte())
            let header = reader.bytes(Int(reader.byte() % 96))
            deliver(header, body: Self.body(reader.byte()), from: peer, identity: nil, label: "raw")
        case .hello:
            let peer = Self.peer(reader.byte())
            let agent = Tables.pick(Tables.agents, reader.byte())
            let layer = Tables.pick(Tables.layers, reader.byte())
            let mask = reader.byte()
            var capabilities = Tables.capabilities.indices.filter { mask & (1 << $0) != 0 }.map { Tables.capabilities[$0] }
            if mask & 0x08 != 0 { capabilities += capabilities }  // repeated names: the broker keeps one of each
            let instance = UInt64(reader.byte() % 4)
            let identity = Tables.pick(Tables.identities, reader.byte())
            // Bit 0x10 of the mask: a protocol 1.1 HELLO asking for confirm batches.
            let header = Header.hello(Hello(instance: instance, agentID: agent, layer: layer, capabilities: capabilities,
                                            features: mask & 0x10 != 0 ? .confirmBatches : nil))
            deliver(HeaderEncoder.encode(header), body: nil, from: peer, identity: identity, label: "HELLO")
        case .request, .forward:
            let peer = Self.peer(reader.byte())
            let request = Request(callbackID: Tables.callbackID(reader.byte()),
                                  kind: RequestKind.allCases[Int(reader.byte()) % RequestKind.allCases.count],
                                  timeoutMilliseconds: Self.timeout(reader.byte()),
                                  target: Tables.pick(Tables.targets, reader.byte()),
                                  contentType: Tables.contentTypes[0])
            let body = Self.body(reader.byte())
            if op == .request {
                deliver(HeaderEncoder.encode(.request(request)), body: body, from: peer, identity: nil, label: "REQUEST")
            } else {
                let forward = Forward(request: request, caller: Tables.pick(Tables.agents, reader.byte()),
                                      callerLayer: Tables.pick(Tables.layers, reader.byte()))
                deliver(HeaderEncoder.encode(.forward(forward)), body: body, from: peer, identity: nil, label: "FORWARD")
            }
        case .reply:
            let (deliveryID, peer) = pickDelivery(reader.byte(), peerChoice: reader.byte())
            let reply = Reply(deliveryID: deliveryID, status: Tables.pick(Tables.statuses, reader.byte()))
            deliver(HeaderEncoder.encode(.reply(reply)), body: Self.body(reader.byte()), from: peer, identity: nil, label: "REPLY")
        case .progress:
            let (deliveryID, peer) = pickDelivery(reader.byte(), peerChoice: reader.byte())
            let progress = ProgressReport(deliveryID: deliveryID, extendMilliseconds: UInt32(reader.byte()) * 50)
            deliver(HeaderEncoder.encode(.progress(progress)), body: nil, from: peer, identity: nil, label: "PROGRESS")
        case .cancel:
            let peer = Self.peer(reader.byte())
            deliver(HeaderEncoder.encode(.cancel(Tables.callbackID(reader.byte()))), body: nil, from: peer, identity: nil, label: "CANCEL")
        case .heartbeat:
            deliver(HeaderEncoder.encode(.heartbeat), body: nil, from: Self.peer(reader.byte()), identity: nil, label: "HEARTBEAT")
        case .bye:
            deliver(HeaderEncoder.encode(.bye), body: nil, from: Self.peer(reader.byte()), identity: nil, label: "BYE")
        case .publish:
            let peer = Self.peer(reader.byte())
            let eventID = Tables.eventID(reader.byte())
            let topic = Topic(agent: Tables.pick(Tables.agents, reader.byte()), event: Tables.pick(Tables.events, reader.byte()))!
            let body = Self.body(reader.byte())
            let header = Header.publish(Publish(eventID: eventID, topic: topic, contentType: "application/json"))
            deliver(HeaderEncoder.encode(header), body: body, from: peer, identity: nil, label: "PUBLISH")
        case .replay:
            let peer = Self.peer(reader.byte())
            let selectorByte = reader.byte()
            let agent = Tables.agents[Int(selectorByte >> 3) % Tables.agents.count]
            let selector: TopicSelector = selectorByte & 1 == 1 ? .agent(agent)
                : .topic(Topic(agent: agent, event: Tables.events[Int((selectorByte >> 1) & 3) % Tables.events.count])!)
            let from = UInt64(reader.byte() % 12) + 1
            let toByte = reader.byte()
            let replay = Replay(selector: selector, from: from, to: toByte == 0 ? 0 : from + UInt64(toByte % 8))
            deliver(HeaderEncoder.encode(.replay(replay)), body: nil, from: peer, identity: nil, label: "REPLAY")
        case .gatewayHello:
            let peer = Self.peer(reader.byte())
            let hello = GatewayHello(instance: UInt64(reader.byte() % 4), gatewayID: Tables.pick(Tables.agents, reader.byte()),
                                     token: Tables.pick(Tables.tokens, reader.byte()))
            let identity = Tables.pick(Tables.identities, reader.byte())
            deliver(HeaderEncoder.encode(.gatewayHello(hello)), body: nil, from: peer, identity: identity, label: "GATEWAY_HELLO")
        case .tick:
            now += Self.advance(reader.byte())
            perform(StepInput(label: "tick", isTick: true)) { core, now in core.tick(now: now) }
        case .unreachable:
            let peer = Self.peer(reader.byte())
            perform(StepInput(label: "unreachable", peer: peer)) { core, now in core.peerUnreachable(peer, now: now) }
        case .refuseFraming:
            // As the reactor refuses a message with too many frames or an oversized body: the command byte
            // and the REQUEST/FORWARD callback id are read from the header frame without decoding it.
            let peer = Self.peer(reader.byte())
            let id = Tables.callbackID(reader.byte())
            let request = Request(callbackID: id, kind: .help, timeoutMilliseconds: 1_000, target: .agent("a0"), contentType: "")
            let header: [UInt8] = switch reader.byte() % 4 {
            case 0: HeaderEncoder.encode(.request(request))
            case 1: HeaderEncoder.encode(.forward(Forward(request: request, caller: "a0", callerLayer: "app")))
            case 2: HeaderEncoder.encode(.cancel(id))
            default: HeaderEncoder.encode(.publish(Publish(eventID: id, topic: Topic(agent: "a0", event: "e1")!, contentType: "")))
            }
            let callbackID = header.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) }
            perform(StepInput(label: "framing refusal", peer: peer, refused: true, refusedCallbackID: callbackID)) { core, _ in
                core.refuseMalformed(command: header[2], callbackID: callbackID, from: peer, reason: "too many frames: 3")
            }
        case .admin:
            let selector = reader.byte()
            switch selector {
            case 0:
                deliver(HeaderEncoder.encode(.status), body: nil, from: Self.peer(reader.byte()), identity: nil, label: "STATUS")
            case 1:
                perform(StepInput(label: "begin draining")) { core, _ in core.beginDraining() }
            case 2:
                perform(StepInput(label: "shutdown")) { core, _ in core.shutdown() }
                checker.require(core.pending.count == 0 && core.pendingIndex.count == 0, "requests still pending after shutdown")
                stopped = true
            case 3..<16:
                restart()
            case 16..<24:
                let action: AdminAction = selector & 1 == 0 ? .evict : .purge
                let agent = Tables.pick(Tables.agents, reader.byte())
                let target = action == .evict ? agent : "callback.\(agent).\(Tables.pick(Tables.events, reader.byte()))"
                let identity = Tables.pick(Tables.identities, reader.byte())
                deliver(HeaderEncoder.encode(.admin(AdminCommand(action: action, target: target))), body: nil,
                        from: Self.peer(reader.byte()), identity: identity, label: "ADMIN")
            default:
                now += UInt64(selector % 64) * 13  // a message arrives before the reactor ran the timers
            }
        }
    }

    /// 1 ms … 12.75 s, plus the extremes.
    private static func timeout(_ byte: UInt8) -> UInt32 {
        switch byte {
        case 0: 1
        case 255: .max
        default: UInt32(byte) * 50
        }
    }

    /// 0–1.99 s in 10 ms steps, or 1–56 s.
    private static func advance(_ byte: UInt8) -> UInt64 {
        byte < 200 ? UInt64(byte) * 10 : UInt64(byte - 199) * 1_000
    }

    /// A delivery seen earlier and the peer it went to (or, by `peerChoice`, another peer), or a made-up id.
    private func pickDelivery(_ pick: UInt8, peerChoice: UInt8) -> (UInt64, PeerID) {
        let other = Self.peer(peerChoice >> 1)
        guard !seenDeliveries.isEmpty, pick < 0xF0 else { return (UInt64(pick & 0x0F), other) }
        let seen = seenDeliveries[seenDeliveries.count - 1 - Int(pick) % seenDeliveries.count]
        return (seen.id, peerChoice & 1 == 1 ? seen.peer : other)
    }

    /// Hands header bytes (and a body) to the core as the reactor does: decode, then handle or refuse.
    private mutating func deliver(_ bytes: [UInt8], body: FuzzPayload?, from peer: PeerID, identity: String?, label: String) {
        let decoded: Swift.Result<Header, DecodeError> = bytes.withUnsafeBytes { raw in
            do throws(DecodeError) { return .success(try HeaderDecoder.decode(raw)) } catch { return .failure(error) }
        }
        var input = StepInput(label: label, peer: peer)
        input.bodyFingerprint = body?.fingerprint ?? emptyPayloadFingerprint
        switch decoded {
        case .success(.status):
            input.header = .status
            perform(input) { core, _ in _ = core.snapshot() }
            checker.checkSnapshot(core)
        case .success(.admin(let command)):
            input.header = .admin(command)
            perform(input) { core, now in _ = core.administer(command, from: peer, identity: identity, loopback: true, now: now) }
        case .success(let header):
            input.header = header
            let isRegistration = switch header {
            case .hello, .gatewayHello: true
            default: false
            }
            perform(input) { core, now in
                core.handle(header, body: body, from: peer, identity: isRegistration ? identity : nil, now: now)
                core.settleContestedHellos(now: now)  // every holder reachable; the "unreachable" step covers the others
            }
        case .failure(let error):
            let command = bytes.count >= 3 ? bytes[2] : 0
            let callbackID = bytes.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) }
            input.refused = true
            input.refusedCallbackID = callbackID
            input.label += " (refused: \(error))"
            perform(input) { core, _ in
                core.refuseMalformed(command: command, callbackID: callbackID, from: peer, reason: error.description)
            }
        }
    }

    /// Runs one step on the core and checks what it did.
    private mutating func perform(_ input: StepInput, _ body: (inout BrokerCore<FuzzPayload>, UInt64) -> Void) {
        let before = core  // copy-on-write: only the tables the step changes get copied
        body(&core, now)
        core.closeTurn()
        let outbox = core.outbox.messages
        let publications = core.publications.publications
        let journal = core.journal
        let marks = core.topicMarks
        core.clearOutbox()
        if tracing { trace(input, outbox, publications) }
        checker.check(before: before, after: core, input: input, now: now, outbox: outbox, publications: publications)
        checker.checkJournal(journal, publications: publications)
        for mark in marks { journalFile.append(.mark(mark)) }
        for entry in journal { journalFile.append(.event(entry.header, entry.body)) }
        for message in outbox {
            if case .deliver(let deliver) = message.header {
                seenDeliveries.append((deliver.deliveryID, message.peer))
                if seenDeliveries.count > 16 { seenDeliveries.removeFirst() }
            }
        }
    }

    private func trace(_ input: StepInput, _ outbox: [Outbound<FuzzPayload>], _ publications: [Publication<FuzzPayload>]) {
        let header = input.header.map { "\($0)" } ?? ""
        traceLine("[\(checker.stepNumber + 1) t=\(now)] \(input.label) from \(input.peer.map { "\($0)" } ?? "-") \(header)")
        for message in outbox { traceLine("    → \(message.peer) \(message.header)") }
        for publication in publications { traceLine("    ⇉ \(publication.header)") }
    }
}

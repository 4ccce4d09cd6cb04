import Logging
import ParleyBrokerCore
import ParleyStatistics
import ParleyWire
import ZeroMQ

/// The I/O half of the broker: reads frames from the ROUTER, hands decoded headers and untouched body
/// frames to the core, and writes the core's outbox back. Owned by the reactor thread.
struct ReactorLoop {
    let router: Socket
    let events: Socket
    /// The event journal, when the broker has a data directory.
    let journal: EventJournal?
    var core: BrokerCore<Message>
    let logger: Logger
    /// Reused frames and buffers, so that a message in transit allocates only its body's handle.
    private let reader = RouterReader()
    private let discardFrame = Message()
    /// Where a kept payload is copied (`zmq_msg_copy`) to be sent: payloads are never consumed by a send.
    private let outgoingBody = Message()
    private var encoded: [UInt8] = []
    private var unreachable: [PeerID] = []
    /// Messages dropped because a peer's queue was full (`peer-hwm` messages or `peer-queue-bytes`), and when that
    /// was last logged.
    private(set) var droppedAtHighWaterMark: UInt64 = 0
    private var lastFullQueueLog: UInt64 = 0
    /// Whether connections authenticate with CURVE: only then is a message's `User-Id` believed.
    let authenticated: Bool
    /// STATUS replies each asker may still get now: a bucket of 20, refilled at 20 per second, so that a peer asking
    /// over and over (and never reading) cannot pile up large replies in the broker. A STATUS over the limit gets a
    /// small ERROR OVERLOADED instead. With CURVE the bucket is the authenticated identity's, so more connections
    /// with one key do not get more; without CURVE, the same again per source address (five connections' worth).
    private var statusRates = AskingRates(command: "STATUS", rate: 20, addressRate: 100)
    /// ADMIN's own rates, the same as STATUS's but apart from them: a STATUS flood does not lock administrators out.
    private var adminRates = AskingRates(command: "ADMIN", rate: 20, addressRate: 100)
    /// Events each asker, and all of them together, may still have replayed now (a REPLAY needs one token of each,
    /// then costs the events it sent): one full batch (10,000 events) a second per asker, four for all (one at a time); over it a
    /// REPLAY gets ERROR OVERLOADED (issue 12: a flood of REPLAYs, each answering a full batch, stalled the broker).
    private var replayTokens = AskerBuckets(rate: 10_000, burst: 10_000)
    private var replayAddressTokens = AskerBuckets(rate: 20_000, burst: 10_000)
    private var allReplayTokens = TokenBucket(rate: 40_000, burst: 10_000, now: MonotonicClock.milliseconds())
    /// The last large STATUS report (over 64 KiB: thousands of agents, tens of milliseconds to make) of each view,
    /// with or without the agent list, and when it was made: STATUS asked within a second of it gets the same one.
    private var largeStatusReports: [Bool: (at: UInt64, report: [UInt8])] = [:]
    /// True while the data directory has no room for the journal: publishes are refused, requests go on.
    private(set) var journalFull = false
    /// Subscriptions refused because they covered events their identity may not read, and when one was last logged.
    private(set) var refusedSubscriptions: UInt64 = 0
    private var lastRefusalLog: UInt64 = 0
    /// Room reserved per event besides its body: a record's length, kind and EVENT header (whose two strings
    /// have at most 255 bytes each) stay under 1 KiB.
    private static let recordOverhead = 1_024

    init(router: Socket, events: Socket, journal: EventJournal?, core: BrokerCore<Message>, authenticated: Bool, logger: Logger) {
        self.router = router
        self.events = events
        self.journal = journal
        self.core = core
        self.authenticated = authenticated
        self.logger = logger
        encoded.reserveCapacity(256)
    }

    /// Runs the core's timers when due and sends what they produced.
    mutating func runTimers(now: UInt64) throws {
        guard now >= core.nextWakeup else { return }
        core.tick(now: now)
        compactJournal()
        try flush()
    }

    /// Reads every message waiting on the ROUTER (until EAGAIN: the socket's readiness is edge-triggered),
    /// at most a batch at a time so timers still run under load.
    mutating func drainInbound() throws {
        var handled = 0
        while handled < 4_096, let (body, extraFrames) = try reader.next(from: router) {
            handled += 1
            handleOne(body: body, extraFrames: extraFrames)
            // Sending in batches lets libzmq coalesce frames into fewer TCP writes and I/O-thread wake-ups.
            if handled % 64 == 0 { try flush() }
        }
        try flush()
    }

    private var headerFrame: Message { reader.headerFrame }

    private mutating func handleOne(body: Message?, extraFrames: Int) {
        let peer = reader.peer
        let now = MonotonicClock.milliseconds()
        let command = headerFrame.count >= 3 ? headerFrame.withUnsafeBytes { $0[2] } : 0
        if extraFrames > 0 {
            return refuse(command: command, peer: peer,
                          reason: "too many frames: \(extraFrames + 2); a message is a header and at most one body")
        }
        if let body, body.count > core.configuration.maxBodyBytes {
            return refuse(command: command, peer: peer,
                          reason: "body of \(body.count) bytes exceeds the limit of \(core.configuration.maxBodyBytes)")
        }
        let decoded = headerFrame.withUnsafeBytes { bytes -> Swift.Result<Header, DecodeError> in
            do throws(DecodeError) { return .success(try HeaderDecoder.decode(bytes)) } catch { return .failure(error) }
        }
        switch decoded {
        case .success(.status):
            answerStatus(peer, now: now)
        case .success(.admin(let command)):
            administer(command, peer: peer, now: now)
        case .success(.publish(let publish)) where core.isRegistered(peer) && !journalHasRoom(for: body):
            core.refuse(status: .unavailable, command: CommandCode.publish.rawValue, callbackID: publish.eventID, peer: peer,
                        reason: "the broker's data directory is full: the event cannot be journaled; publish again later")
        case .success(.replay(let replay)):
            let origin = PeerOrigin(headerFrame, authenticated: authenticated)
            let identity = origin.identity
            let asker = Asker(identity: identity, peer: peer)
            let address = origin.rateAddress
            guard replayTokens.take(asker, now: now) else {
                return core.refuse(status: .overloaded, command: CommandCode.replay.rawValue, callbackID: nil, peer: peer,
                                   reason: "REPLAY: more than \(replayTokens.rate) events a second asked by this \(identity == nil ? "connection" : "identity"); ask again later")
            }
            if let address, !replayAddressTokens.take(address, now: now) {
                return core.refuse(status: .overloaded, command: CommandCode.replay.rawValue, callbackID: nil, peer: peer,
                                   reason: "REPLAY: more than \(replayAddressTokens.rate) events a second asked from this address; ask again later")
            }
            guard allReplayTokens.take(now: now) else {
                return core.refuse(status: .overloaded, command: CommandCode.replay.rawValue, callbackID: nil, peer: peer,
                                   reason: "REPLAY: the broker replays at most \(allReplayTokens.rate) events a second in all; ask again later")
            }
            let before = core.counters.eventsReplayed
            core.handle(.replay(replay), body: body, from: peer, identity: identity, now: now)
            replayTokens.charge(asker, core.counters.eventsReplayed - before)
            if let address { replayAddressTokens.charge(address, core.counters.eventsReplayed - before) }
            allReplayTokens.charge(core.counters.eventsReplayed - before)
        case .success(let header):
            core.handle(header, body: body, from: peer, identity: needsIdentity(header) ? PeerOrigin(headerFrame, authenticated: authenticated).identity : nil,
                        now: now)
        case .failure(let error):
            refuse(command: command, peer: peer, reason: error.description)
        }
    }

    /// Checks at start-up whether the journal has room, so that a broker started on a full disk says so at once.
    mutating func checkJournalRoom() {
        _ = journalHasRoom(for: nil)
    }

    /// Whether the journal can take an event of `body`'s size (always, without a journal). Logs once when the
    /// data directory fills up and once when it has room again: each check retries, so publishing resumes by itself.
    private mutating func journalHasRoom(for body: Message?) -> Bool {
        guard let journal else { return true }
        let room = journal.reserve((body?.count ?? 0) + Self.recordOverhead)
        guard room == journalFull else { return room }
        journalFull = !room
        if room {
            logger.notice("data directory has room again: publishing resumed", metadata: ["event": "journal_resumed"])
        } else {
            logger.error("data directory full: publishes are refused with UNAVAILABLE until it has room; requests are unaffected",
                         metadata: ["event": "journal_full"])
        }
        return room
    }

    /// Only registrations need the connection's authenticated identity here (a routing id stays bound to its
    /// connection); REPLAY, whose reading rights depend on it, takes it above.
    private func needsIdentity(_ header: Header) -> Bool {
        switch header {
        case .hello, .gatewayHello: true
        default: false
        }
    }

    private mutating func refuse(command: UInt8, peer: PeerID, reason: String) {
        let callbackID = headerFrame.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) }
        logger.debug("refused malformed message", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        core.refuseMalformed(command: command, callbackID: callbackID, from: peer, reason: reason)
    }

    /// ADMIN: the core obeys it or refuses it (over ADMIN's rates, the reactor refuses it OVERLOADED); either way
    /// it goes to the log as an audit record (`event: admin`). A purge the core obeys is followed by a compaction
    /// of the journal, so that the purged payloads leave the disk too.
    private mutating func administer(_ command: AdminCommand, peer: PeerID, now: UInt64) {
        let origin = PeerOrigin(headerFrame, authenticated: authenticated)
        let record: AdminRecord
        if let reason = adminRates.refusal(from: origin, peer: peer, now: now) {
            core.refuse(status: .overloaded, command: CommandCode.admin.rawValue, callbackID: nil, peer: peer, reason: reason)
            record = AdminRecord(action: command.action, target: command.target, identity: origin.identity, status: .overloaded,
                                 detail: reason)
        } else {
            let room = command.action != .purge || journalHasRoom(for: nil)
            record = core.administer(command, from: peer, identity: origin.identity, loopback: origin.isLocal,
                                     journalHasRoom: room, now: now)
            if record.status == .ok, command.action == .purge { journal?.compactSoon() }
        }
        var metadata: Logger.Metadata = ["event": "admin", "action": "\(record.action)", "target": "\(record.target)",
                                         "status": "\(record.status)", "detail": "\(record.detail)", "peer_address": "\(origin.address)"]
        if let identity = origin.identity { metadata["identity"] = "\(identity)" }
        if record.status == .ok {
            logger.notice("admin action", metadata: metadata)
        } else {
            logger.warning("admin action refused", metadata: metadata)
        }
    }

    private mutating func answerStatus(_ peer: PeerID, now: UInt64) {
        let origin = PeerOrigin(headerFrame, authenticated: authenticated)
        let identity = origin.identity
        if let reason = statusRates.refusal(from: origin, peer: peer, now: now) {
            return core.refuse(status: .overloaded, command: CommandCode.status.rawValue, callbackID: nil, peer: peer, reason: reason)
        }
        let full = core.mayListAgents(identity: identity)
        let report: [UInt8]
        if let cached = largeStatusReports[full], now &- cached.at < 1_000 {
            report = cached.report
        } else {
            report = StatusReport.json(core.snapshot(includingAgents: full))
            if report.count > 64 << 10 { largeStatusReports[full] = (now, report) }
        }
        encoded.removeAll(keepingCapacity: true)
        HeaderEncoder.encode(.statusReply, into: &encoded)
        do {
            _ = try router.send(to: peer, header: encoded, body: Message(report))
        } catch {
            logger.debug("status reply not sent", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }

    /// Reads subscription messages from the events socket (byte 1 or 0, then the prefix) and logs them.
    mutating func drainSubscriptions() throws {
        while try events.receive(into: discardFrame, dontWait: true) {
            applySubscription(discardFrame)
        }
    }

    /// The events socket leaves subscriptions to the broker (ZMQ_XPUB_MANUAL): applies one (un)subscription message
    /// to the subscriber it came from (the socket's last receive), unless it covers an agent whose events the
    /// subscriber's identity may not read. A refused subscription delivers nothing; refusals are logged at most
    /// once per 10 s, with their count.
    private mutating func applySubscription(_ message: Message) {
        let problem: String? = message.withUnsafeBytes { bytes in
            guard let kind = bytes.first, kind <= 1 else { return nil }
            let prefix = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
            if kind == 0 {
                try? events.unsubscribe(Array(prefix))
                return nil
            }
            if let problem = core.subscriptionProblem(prefix, identity: PeerOrigin(message, authenticated: authenticated).identity) {
                return problem
            }
            try? events.subscribe(Array(prefix))
            return nil
        }
        guard let problem else { return }
        refusedSubscriptions += 1
        let now = MonotonicClock.milliseconds()
        guard now &- lastRefusalLog >= 10_000 else { return }
        logger.warning("subscription refused", metadata: ["event": "subscription_refused", "reason": "\(problem)",
                                                          "refused_so_far": .stringConvertible(refusedSubscriptions)])
        lastRefusalLog = now
    }

    /// Writes new events to the journal (group commit), then sends the core's publications, then its
    /// outbox. Unreachable peers are reported back to the core afterwards, then contested registrations settled.
    /// Throws when the journal cannot be written: events are never confirmed unless they are on disk.
    mutating func flush() throws {
        if let journal, !core.journal.isEmpty || !core.topicMarks.isEmpty {
            for mark in core.topicMarks { journal.append(mark) }
            for entry in core.journal { journal.append(entry.header, body: entry.body) }
            try journal.commit()
            compactJournal()
        }
        for entry in core.publications.entries { publish(entry) }
        core.closeTurn()
        for entry in core.outbox.entries { send(entry) }
        core.clearOutbox()
        guard !unreachable.isEmpty || core.hasContestedHellos else { return }
        let now = MonotonicClock.milliseconds()
        for peer in unreachable { core.peerUnreachable(peer, now: now) }
        unreachable.removeAll(keepingCapacity: true)
        core.settleContestedHellos(now: now)
        try flush()
    }

    /// Finishes a compaction of the journal whose copy is done, and starts one when the journal has outgrown
    /// what is retained. Called with nothing queued in the journal.
    private func compactJournal() {
        guard let journal else { return }
        if let event = journal.finishCompaction() { log(event) }
        if let event = journal.compactIfDue(retainedBytes: core.retainedEventFootprint, floors: { (core.journalFloors(), core.topicFloors) }) { log(event) }
    }

    private func log(_ event: EventJournal.CompactionEvent) {
        switch event {
        case .started(let size):
            logger.info("event journal compaction started", metadata: ["event": "journal_compaction_started", "bytes": .stringConvertible(size),
                                                                      "retained_footprint": .stringConvertible(core.retainedEventFootprint)])
        case .finished(let before, let after):
            logger.info("event journal compacted", metadata: ["event": "journal_compacted", "bytes_before": .stringConvertible(before), "bytes_after": .stringConvertible(after)])
        case .failed(let reason):
            logger.warning("event journal not compacted", metadata: ["event": "journal_not_compacted", "error": "\(reason)"])
        }
    }

    /// XPUB never blocks: at a subscriber's high-water mark its copy is dropped (it recovers by REPLAY).
    private func publish(_ entry: EncodedOutbox<[UInt8], Message>.Entry) {
        defer { releaseUnsentBody() }
        do {
            try events.send(entry.destination, more: true, dontWait: true)
            var body: Message?
            if case .payload(let payload) = entry.body {
                outgoingBody.copy(from: payload)
                body = outgoingBody
            }
            try core.publications.withHeader(of: entry) { header in
                _ = try events.send(header, more: body != nil, dontWait: true)
                if let body { _ = try events.send(body, dontWait: true) }
            }
        } catch {
            logger.warning("publish failed", metadata: ["error": "\(error)"])
        }
    }

    /// A send that failed leaves its payload in the reused frame: let it go rather than keep it until the next send.
    private func releaseUnsentBody() {
        if outgoingBody.count > 0 { outgoingBody.rebuild() }
    }

    /// A peer that does not read what it is sent is treated as gone: the message is dropped and the peer marked away
    /// (its deliveries go to other agents; it re-registers at its next message and retries what it missed). A gateway
    /// is not: it carries every cross-layer caller, whose calls would all end; its callers retry a dropped RESULT.
    private mutating func queueFull(_ peer: PeerID) {
        droppedAtHighWaterMark += 1
        let isGateway = core.isGateway(peer)
        if !isGateway { unreachable.append(peer) }
        let now = MonotonicClock.milliseconds()
        guard now &- lastFullQueueLog >= 10_000 else { return }
        logger.warning(isGateway ? "gateway queue full: message dropped" : "peer queue full: message dropped, peer marked away", metadata: [
            "event": "peer_queue_full", "peer": "\(peer)", "dropped_so_far": .stringConvertible(droppedAtHighWaterMark),
        ])
        lastFullQueueLog = now
    }

    private mutating func send(_ entry: EncodedOutbox<PeerID, Message>.Entry) {
        defer { releaseUnsentBody() }
        let body: Message?
        switch entry.body {
        case .none: body = nil
        case .payload(let payload):
            outgoingBody.copy(from: payload)
            body = outgoingBody
        case .text(let text): body = Message(text)
        }
        let router = router
        let sent = core.outbox.withHeader(of: entry) { header in Result { try router.send(to: entry.destination, header: header, body: body) } }
        switch sent {
        case .success(true): break
        case .success(false): queueFull(entry.destination)
        case .failure(let error as ZMQError) where error == .hostUnreachable: unreachable.append(entry.destination)
        case .failure(let error): logger.warning("send failed", metadata: ["peer": "\(entry.destination)", "error": "\(error)"])
        }
    }
}

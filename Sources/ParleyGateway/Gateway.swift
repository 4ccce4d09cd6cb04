import Logging
import ParleyPolicy
import ParleyStatistics
import ParleyWire
import Synchronization
import ZeroMQ

/// The gateway process's engine: one reactor thread that owns the frontend ROUTER (callers), the backend
/// DEALER (the broker) and the `GatewayCore`. `run()` blocks its thread until `stop()`; `stop()` and
/// `reload(_:)` are thread-safe.
public final class Gateway: Sendable {
    private let options: GatewayOptions
    private let logger: Logger
    /// The audit trail, opened by `init` (a bad path stops the gateway at once) and taken by `run()`'s thread.
    private let auditLog: Mutex<AuditLog?>
    private let wake: WakeSignal
    private let stopping = Atomic<Bool>(false)
    private let pendingPolicy = Mutex<Policy?>(nil)
    private let initialPolicy: Policy

    /// A gateway enforcing `policy`, writing its audit trail to `auditLog` ("-" for standard output), which is
    /// opened here: an ``AuditLogError`` names the path and the reason.
    public init(options: GatewayOptions, policy: Policy, auditLog: String, logger: Logger) throws {
        self.options = options
        self.initialPolicy = policy
        self.auditLog = Mutex(try AuditLog(path: auditLog))
        self.logger = logger
        self.wake = try WakeSignal()
    }

    /// Stops the reactor gracefully: new calls get UNAVAILABLE, calls already forwarded may still get their outcome
    /// within `options.shutdownGraceMilliseconds`, the rest end with UNAVAILABLE; then callers and the broker get BYE
    /// and `run()` returns. Thread-safe.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wake.signal()
    }

    /// Hands a new, validated policy to the reactor. Thread-safe.
    public func reload(_ policy: Policy) {
        pendingPolicy.withLock { $0 = policy }
        wake.signal()
    }

    /// Binds the frontend, connects to the broker and serves until `stop()`. `onSample` runs on the reactor thread
    /// every `options.sampleIntervalMilliseconds` and once more at the end: keep it short (store the sample).
    public func run(onReady: (String) -> Void = { _ in }, onSample: (GatewaySample) -> Void = { _ in }) throws {
        guard let auditLog = auditLog.withLock({ $0.take() }) else { preconditionFailure("Gateway.run() called twice") }
        let context = try Context()
        let authenticator = try options.frontendSecurity?.startAuthenticator(context)
        defer { authenticator?.stop() }
        let frontend = try Socket(context, type: .router)
        defer { frontend.close() }
        try frontend.setRouterMandatory(true)
        try frontend.setMaxMessageSize(options.transportFrameLimit)
        try frontend.setSendHighWaterMark(100_000)
        try frontend.setReceiveHighWaterMark(100_000)
        if ZeroMQ.hasQueueBudgets {  // else: the start-up warning
            try frontend.setQueueByteBudget(options.callerQueueBytes)
            try frontend.setSocketQueueByteBudget(options.callerQueueTotalBytes)
        }
        try frontend.setLinger(milliseconds: 1_000)
        try frontend.setTCPKeepalive()  // callers that vanish without closing are dropped with their queues
        try options.frontendSecurity?.apply(to: frontend)
        try frontend.bind(options.endpoint)
        let endpoint = (try? frontend.lastEndpoint) ?? options.endpoint
        logger.info("gateway listening", metadata: ["event": "bind", "endpoint": "\(endpoint)", "broker": "\(options.brokerEndpoint)",
                                                   "policy": "\(initialPolicy.source)", "rules": .stringConvertible(initialPolicy.rules.count)])

        var core = GatewayCore(configuration: options.core, policy: initialPolicy, keyRing: options.frontendSecurity?.keyRing,
                               now: MonotonicClock.milliseconds(), wallClock: WallClock.milliseconds())
        let backend = try connectBackend(context)
        core.backendConnected()
        onReady(endpoint)
        try withoutActuallyEscaping(onSample) { onSample in
            var reactor = GatewayReactor(gateway: self, options: options, logger: logger, core: core,
                                         auditWriter: AuditWriter(log: auditLog, logger: logger), context: context,
                                         frontend: frontend, backend: backend, poller: makePoller(frontend, backend),
                                         onSample: onSample, lastHeardFromBroker: MonotonicClock.milliseconds())
            try ReactorDriver(maximumWait: 200, drainingWait: 50, grace: options.shutdownGraceMilliseconds)
                .run(&reactor, stopRequested: { stopping.load(ordering: .acquiring) })
            let unfinished = reactor.core.forwardsInFlight
            reactor.core.endForShutdown()
            reactor.flush()
            onSample(reactor.statistics.sample(reactor.core, draining: true, now: MonotonicClock.milliseconds()))
            reactor.backend.close()
            logger.notice("gateway stopped", metadata: ["event": "stopped", "endpoint": "\(endpoint)", "ended_unavailable": .stringConvertible(unfinished)])
        }
    }

    /// The policy `reload(_:)` handed over since the last call, if any.
    func takePendingPolicy() -> Policy? {
        pendingPolicy.withLock { pending -> Policy? in defer { pending = nil }; return pending }
    }

    /// Clears the wake-up signal after a poll that found it set.
    func clearWake() {
        wake.drain()
    }

    /// Polls the frontend (0), the backend (1) and the wake-up (2).
    func makePoller(_ frontend: Socket, _ backend: Socket) -> Poller {
        var poller = Poller()
        poller.add(frontend)
        poller.add(backend)
        poller.add(fileDescriptor: wake.fileDescriptor)
        return poller
    }

    func connectBackend(_ context: Context) throws -> Socket {
        let socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        if ZeroMQ.hasQueueBudgets { try socket.setQueueByteBudget(options.brokerQueueBytes) }
        try socket.setReconnectInterval(milliseconds: 100, max: 1_000)
        try options.backendSecurity?.apply(to: socket)
        try socket.connect(options.brokerEndpoint)
        return socket
    }

    func receiveFront(_ core: inout GatewayCore, reader: RouterReader, command: UInt8, body: Message?, extraFrames: Int,
                              now: UInt64, draining: Bool) {
        let peer = reader.peer
        let header = reader.headerFrame
        let callbackID = header.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) }
        if extraFrames > 0 {
            return core.refuse(peer, status: .badRequest, command: command, callbackID: callbackID,
                               reason: "too many frames: \(extraFrames + 2); a message is a header and at most one body")
        }
        if let body, body.count > options.core.maxBodyBytes {
            return core.refuse(peer, status: .badRequest, command: command, callbackID: callbackID,
                               reason: "body of \(body.count) bytes exceeds the limit of \(options.core.maxBodyBytes)")
        }
        do {
            let decoded = try header.withUnsafeBytes { try HeaderDecoder.decode($0) }
            if case .status = decoded {
                // Liveness for `parley health --gateway` and operators: a small JSON document, no registration needed.
                return core.answerStatus(peer, draining: draining)
            }
            if draining, case .request = decoded {
                return core.refuse(peer, status: .unavailable, command: command, callbackID: callbackID,
                                   reason: "the gateway is shutting down; retry later or through another gateway")
            }
            let identity = decoded.code == .hello ? header.property("User-Id") : nil
            core.handleFront(decoded, body: body, from: peer, identity: identity, now: now)
        } catch {
            core.refuse(peer, status: .badRequest, command: command, callbackID: callbackID, reason: "\(error)")
        }
    }

    /// Writes the audit records of the decisions `core` made since the last call, if any, in one write, before the
    /// decisions take effect: a call is forwarded (or refused) only once `write(2)` has taken its record.
    func settleAudit(_ core: inout GatewayCore, writer: inout AuditWriter, statistics: inout GatewayStatistics) {
        guard !core.audit.isEmpty else { return }
        statistics.decided(core.audit)
        let written = writer.write(core.audit)
        if !written { statistics.auditFailures += UInt64(core.audit.count) }
        core.settleAudit(written: written)
    }

    func flush(_ core: inout GatewayCore, frontend: Socket, backend: Socket, encoded: inout [UInt8],
                       statistics: inout GatewayStatistics) {
        for notice in core.notices { logger.error("\(notice)") }
        if let loss = core.brokerLoss {
            logger.warning("lost the broker; calls in flight end UNAVAILABLE; registering again",
                           metadata: ["event": "broker_lost", "broker": "\(options.brokerEndpoint)", "cause": "\(loss.cause)",
                                      "ended_unavailable": .stringConvertible(loss.endedCalls)])
        }
        var notQueued: [CallbackID] = []
        for outbound in core.backOutbox {
            encoded.removeAll(keepingCapacity: true)
            HeaderEncoder.encode(outbound.header, into: &encoded)
            statistics.sendingToBroker(encoded)
            do {
                let body = message(outbound.body)
                if try backend.send(encoded, more: body != nil, dontWait: true) {
                    if let body { try backend.send(body, dontWait: true) }
                } else if case .forward(let forward) = outbound.header {
                    notQueued.append(forward.request.callbackID)
                }
            } catch {
                logger.debug("send to the broker failed", metadata: ["error": "\(error)"])
            }
        }
        for callbackID in notQueued { core.forwardNotQueued(callbackID) }
        var unreachable: [PeerID] = []
        for outbound in core.frontOutbox {
            encoded.removeAll(keepingCapacity: true)
            HeaderEncoder.encode(outbound.header, into: &encoded)
            statistics.sendingToCaller(outbound.header)
            do {
                // A caller that does not read what it is sent is treated as gone once its queue is full.
                if try !frontend.send(to: outbound.peer, header: encoded, body: message(outbound.body)) {
                    unreachable.append(outbound.peer)
                }
            } catch let error as ZMQError where error == .hostUnreachable {
                unreachable.append(outbound.peer)
            } catch {
                logger.debug("send to a caller failed", metadata: ["peer": "\(outbound.peer)", "error": "\(error)"])
            }
        }
        core.clearOutboxes()
        // A caller whose connection is gone (a killed process) frees its id at once for its restart.
        for peer in unreachable { core.callerUnreachable(peer) }
        guard core.hasContestedHellos else { return }
        core.settleContestedHellos(now: MonotonicClock.milliseconds())
        flush(&core, frontend: frontend, backend: backend, encoded: &encoded, statistics: &statistics)
    }

    private func message(_ body: GatewayBody) -> Message? {
        switch body {
        case .none: nil
        case .payload(let payload): payload
        case .text(let text): Message(text)
        }
    }
}

/// What the gateway reactor reports now and then for metrics and health checks: a copy the receiver may keep
/// and read on any thread.
public struct GatewaySample: Sendable {
    /// Decisions since start, by rule, verdict (`allow` or `deny`) and edge.
    public var decisions: [GatewayDecisionKey: UInt64]
    /// The policy in force (its layers and rules draw the console's layer graph).
    public var policy: Policy
    /// Outcomes sent to callers since start, by status name (`OK`, `UNAUTHORIZED`, …).
    public var outcomes: [String: UInt64]
    /// How long forwarded calls took from the FORWARD to the broker's outcome.
    public var forwardLatency: LatencyHistogram
    /// Callers registered now.
    public var callers: Int
    /// Calls forwarded to the broker and not yet answered.
    public var forwardsInFlight: Int
    /// Whether the broker has welcomed the gateway.
    public var brokerConnected: Bool
    /// True once shutdown began.
    public var draining: Bool
    /// Policy reloads applied since start.
    public var policyReloads: UInt64
    /// The rules of the policy in force.
    public var policyRules: Int
    /// Audit records that could not be written since start: each call ended UNAVAILABLE.
    public var auditFailures: UInt64
    /// When it was taken (monotonic milliseconds, `MonotonicClock`).
    public var takenAt: UInt64
}

/// A gateway decision's labels.
public struct GatewayDecisionKey: Hashable, Sendable {
    /// The deciding rule, or `default-deny`.
    public var rule: String
    /// `allow` or `deny`.
    public var verdict: String
    /// The caller's layer.
    public var fromLayer: String
    /// The called layer.
    public var toLayer: String
}

/// The reactor's running figures: plain values, no locks; copied into a ``GatewaySample`` now and then.
struct GatewayStatistics {
    var decisions: [GatewayDecisionKey: UInt64] = [:]
    var outcomes = [UInt64](repeating: 0, count: Status.allCases.count)
    var latency = LatencyHistogram()
    /// When each forward (by the gateway's callback id) went to the broker, in nanoseconds.
    var forwardStarts: [CallbackID: UInt64] = [:]
    var policyReloads: UInt64 = 0
    var auditFailures: UInt64 = 0

    /// Counts decisions (from their audit records, written or not): one table update per run of equal labels.
    mutating func decided(_ records: [AuditRecord]) {
        var start = records.startIndex
        while start < records.endIndex {
            let first = records[start]
            let end = records[start...].firstIndex {
                $0.rule != first.rule || $0.verdict != first.verdict || $0.fromLayer != first.fromLayer || $0.toLayer != first.toLayer
            } ?? records.endIndex
            let key = GatewayDecisionKey(rule: first.rule, verdict: first.verdict, fromLayer: first.fromLayer, toLayer: first.toLayer)
            decisions[key, default: 0] += UInt64(end - start)
            start = end
        }
    }

    /// `encoded` goes to the broker: a FORWARD's start time is kept (a retry of a call the gateway ended restarts it).
    mutating func sendingToBroker(_ encoded: [UInt8]) {
        guard let id = encoded.withUnsafeBytes({ HeaderDecoder.requestCallbackID($0) }) else { return }
        forwardStarts[id] = MonotonicClock.nanoseconds()
    }

    /// `header` goes to a caller: a RESULT is counted by status.
    mutating func sendingToCaller(_ header: Header) {
        if case .result(let result) = header { outcomes[Int(result.status.rawValue)] += 1 }
    }

    /// The broker's outcome for a forward arrived: its round trip goes into the histogram.
    mutating func outcomeArrived(_ header: Header) {
        let callbackID: CallbackID
        switch header {
        case .result(let result): callbackID = result.callbackID
        case .error(let notice) where notice.callbackID != .none: callbackID = notice.callbackID
        default: return
        }
        guard let start = forwardStarts.removeValue(forKey: callbackID) else { return }
        latency.record(nanoseconds: MonotonicClock.nanoseconds() &- start)
    }

    /// Drops the start times of calls the core ended itself (its own TIMEOUT, a cancellation).
    mutating func forgetFinished(_ core: GatewayCore) {
        guard forwardStarts.count > core.forwardsInFlight else { return }
        forwardStarts = forwardStarts.filter { core.isForwarding($0.key) }
    }

    func sample(_ core: GatewayCore, draining: Bool, now: UInt64) -> GatewaySample {
        var byName: [String: UInt64] = [:]
        for status in Status.allCases where outcomes[Int(status.rawValue)] > 0 { byName[status.description] = outcomes[Int(status.rawValue)] }
        return GatewaySample(decisions: decisions, policy: core.policy, outcomes: byName, forwardLatency: latency, callers: core.callerCount,
                             forwardsInFlight: core.forwardsInFlight, brokerConnected: core.backendRegistered, draining: draining,
                             policyReloads: policyReloads, policyRules: core.policy.rules.count, auditFailures: auditFailures,
                             takenAt: now)
    }
}

/// What the reactor needs from the core beyond its public interface (read-only, except the shutdown).
extension GatewayCore {
    /// Calls forwarded to the broker and not yet answered.
    var forwardsInFlight: Int { forwards.count }

    /// Callers registered now.
    var callerCount: Int { callers.count }

    /// Whether the call with the gateway's callback id `id` is still forwarded.
    func isForwarding(_ id: CallbackID) -> Bool { forwards[id] != nil }

    /// Shutdown: every call still forwarded ends with UNAVAILABLE (and is cancelled at the broker), callers and the
    /// broker get BYE.
    mutating func endForShutdown() {
        for id in endForwards("the gateway shut down before the outcome; the call may or may not have run") {
            backOutbox.append(BackOutbound(header: .cancel(id), body: .none))
        }
        // A HEARTBEAT before each BYE: no RESULT is directly followed by BYE, which would read as "not registered".
        for caller in callers.values {
            frontOutbox.append(send(caller.peer, .heartbeat))
            frontOutbox.append(send(caller.peer, .bye))
        }
        backOutbox.append(BackOutbound(header: .bye, body: .none))
    }

    /// STATUS from anyone on the frontend: STATUS_REPLY with a small JSON document about the gateway.
    mutating func answerStatus(_ peer: PeerID, draining: Bool) {
        let body = "{\"role\":\"gateway\",\"broker\":\"\(backendRegistered ? "connected" : "disconnected")\","
            + "\"draining\":\(draining),\"callers\":\(callers.count),\"forwards\":\(forwards.count),"
            + "\"rules\":\(policy.rules.count)}"
        frontOutbox.append(send(peer, .statusReply, .text(body)))
    }
}

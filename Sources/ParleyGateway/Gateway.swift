import Logging
import ParleyPolicy
import ParleyWire
import Synchronization
import ZeroMQ

/// The gateway process's engine: one reactor thread that owns the frontend ROUTER (callers), the backend
/// DEALER (the broker) and the `GatewayCore`. `run()` blocks its thread until `stop()`; `stop()` and
/// `reload(_:)` are thread-safe.
public final class Gateway: Sendable {
    private let options: GatewayOptions
    private let logger: Logger
    private let audit: AuditLogPath
    private let wake: WakeSignal
    private let stopping = Atomic<Bool>(false)
    private let pendingPolicy = Mutex<Policy?>(nil)
    private let initialPolicy: Policy

    /// A gateway enforcing `policy`, writing its audit trail to `auditLog` ("-" for standard output).
    public init(options: GatewayOptions, policy: Policy, auditLog: String, logger: Logger) throws {
        self.options = options
        self.initialPolicy = policy
        self.audit = AuditLogPath(path: auditLog)
        self.logger = logger
        self.wake = try WakeSignal()
    }

    /// Stops the reactor. Thread-safe.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wake.signal()
    }

    /// Hands a new, validated policy to the reactor. Thread-safe.
    public func reload(_ policy: Policy) {
        pendingPolicy.withLock { $0 = policy }
        wake.signal()
    }

    /// Binds the frontend, connects to the broker and serves until `stop()`.
    public func run(onReady: (String) -> Void = { _ in }) throws {
        let auditLog = try AuditLog(path: audit.path)
        let context = try Context()
        let authenticator = try options.frontendSecurity?.startAuthenticator(context)
        defer { authenticator?.stop() }
        let frontend = try Socket(context, type: .router)
        defer { frontend.close() }
        try frontend.setRouterMandatory(true)
        try frontend.setMaxMessageSize(options.transportFrameLimit)
        try frontend.setSendHighWaterMark(100_000)
        try frontend.setReceiveHighWaterMark(100_000)
        try frontend.setLinger(milliseconds: 1_000)
        try options.frontendSecurity?.apply(to: frontend)
        try frontend.bind(options.endpoint)
        let endpoint = (try? frontend.lastEndpoint) ?? options.endpoint
        logger.info("gateway listening", metadata: ["endpoint": "\(endpoint)", "broker": "\(options.brokerEndpoint)",
                                                   "policy": "\(initialPolicy.source)", "rules": "\(initialPolicy.rules.count)"])

        var core = GatewayCore(configuration: options.core, policy: initialPolicy, keyRing: options.frontendSecurity?.keyRing,
                               now: MonotonicClock.milliseconds(), wallClock: WallClock.milliseconds())
        var backend = try connectBackend(context)
        core.backendConnected()
        var lastHeardFromBroker = MonotonicClock.milliseconds()
        onReady(endpoint)

        let reader = RouterReader()
        var encoded: [UInt8] = []
        var poller = makePoller(frontend, backend)
        while !stopping.load(ordering: .acquiring) {
            var now = MonotonicClock.milliseconds()
            if let policy = pendingPolicy.withLock({ pending -> Policy? in defer { pending = nil }; return pending }) {
                core.reload(policy)
                logger.notice("policy reloaded", metadata: ["policy": "\(policy.source)", "rules": "\(policy.rules.count)"])
            }
            if now >= core.nextWakeup { core.tick(now: now) }
            let brokerSilenceLimit = max(options.core.heartbeatMilliseconds, core.brokerHeartbeatMilliseconds) * options.core.liveness
            if now &- lastHeardFromBroker > brokerSilenceLimit {
                if core.backendRegistered { logger.warning("broker silent; reconnecting", metadata: ["broker": "\(options.brokerEndpoint)"]) }
                core.backendLost()
                backend.close()
                backend = try connectBackend(context)
                poller = makePoller(frontend, backend)
                core.backendConnected()
                lastHeardFromBroker = now
            }
            flush(&core, frontend: frontend, backend: backend, auditLog: auditLog, encoded: &encoded)
            let wait = core.nextWakeup > now ? min(core.nextWakeup - now, 200) : 0
            _ = try poller.poll(timeoutMilliseconds: Int(wait))
            if poller.isReadable(2) { wake.drain() }
            now = MonotonicClock.milliseconds()
            var handled = 0
            while handled < 4_096, let (body, extraFrames) = try reader.next(from: frontend) {
                handled += 1
                receiveFront(&core, reader: reader, body: body, extraFrames: extraFrames, now: now)
            }
            while let frames = try backend.receiveMultipart(dontWait: true) {
                lastHeardFromBroker = now
                guard let header = try? HeaderDecoder.decode(frames[0].bytes) else {
                    logger.warning("undecodable message from the broker")
                    continue
                }
                core.handleBack(header, body: frames.count > 1 ? frames[1] : nil, now: now)
            }
            flush(&core, frontend: frontend, backend: backend, auditLog: auditLog, encoded: &encoded)
        }
        backend.close()
        logger.info("gateway stopped", metadata: ["endpoint": "\(endpoint)"])
    }

    /// Polls the frontend (0), the backend (1) and the wake-up (2).
    private func makePoller(_ frontend: Socket, _ backend: Socket) -> Poller {
        var poller = Poller()
        poller.add(frontend)
        poller.add(backend)
        poller.add(fileDescriptor: wake.fileDescriptor)
        return poller
    }

    private func connectBackend(_ context: Context) throws -> Socket {
        let socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.setReconnectInterval(milliseconds: 100, max: 1_000)
        try options.backendSecurity?.apply(to: socket)
        try socket.connect(options.brokerEndpoint)
        return socket
    }

    private func receiveFront(_ core: inout GatewayCore, reader: RouterReader, body: Message?, extraFrames: Int, now: UInt64) {
        let peer = reader.peer
        let header = reader.headerFrame
        let command: UInt8 = header.count >= 3 ? header.withUnsafeBytes { $0[2] } : 0
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
            let decoded = try HeaderDecoder.decode(header.bytes)
            let identity = decoded.code == .hello ? header.property("User-Id") : nil
            core.handleFront(decoded, body: body, from: peer, identity: identity, now: now)
        } catch {
            core.refuse(peer, status: .badRequest, command: command, callbackID: callbackID, reason: "\(error)")
        }
    }

    private func flush(_ core: inout GatewayCore, frontend: Socket, backend: Socket, auditLog: AuditLog, encoded: inout [UInt8]) {
        auditLog.append(core.audit)
        for notice in core.notices { logger.error("\(notice)") }
        for outbound in core.backOutbox {
            encoded = HeaderEncoder.encode(outbound.header)
            do {
                let body = message(outbound.body)
                try backend.send(encoded, more: body != nil, dontWait: true)
                if let body { try backend.send(body, dontWait: true) }
            } catch {
                logger.debug("send to the broker failed", metadata: ["error": "\(error)"])
            }
        }
        for outbound in core.frontOutbox {
            do {
                _ = try frontend.send(to: outbound.peer, header: HeaderEncoder.encode(outbound.header), body: message(outbound.body))
            } catch {
                logger.debug("send to a caller failed", metadata: ["peer": "\(outbound.peer)", "error": "\(error)"])
            }
        }
        core.clearOutboxes()
    }

    private func message(_ body: GatewayBody) -> Message? {
        switch body {
        case .none: nil
        case .payload(let payload): payload
        case .text(let text): Message(text)
        }
    }
}

/// Where the audit trail goes (opened by the reactor thread, which owns it).
private struct AuditLogPath: Sendable {
    let path: String
}

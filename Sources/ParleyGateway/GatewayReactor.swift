import Logging
import ParleyPolicy
import ParleyWire
import ZeroMQ

/// The gateway's reactor thread as the shared `ReactorDriver` turns it: policy reloads, samples, timers and the
/// broker's liveness before waiting; callers' messages (their audit records written before their decisions take
/// effect) and the broker's answers after. On SIGTERM, new calls are refused while forwarded ones may finish.
struct GatewayReactor: ReactorProcess {
    let gateway: Gateway
    let options: GatewayOptions
    let logger: Logger
    var core: GatewayCore
    var auditWriter: AuditWriter
    let context: Context
    let frontend: Socket
    /// The DEALER to the broker, replaced when the broker goes silent.
    var backend: Socket
    /// Polls the frontend (0), the backend (1) and the wake-up (2).
    var poller: Poller
    let onSample: (GatewaySample) -> Void
    var lastHeardFromBroker: UInt64
    let reader = RouterReader()
    let brokerReader = BrokerReader()
    var encoded: [UInt8] = []
    var statistics = GatewayStatistics()
    var nextSample: UInt64 = 0
    var trim = AllocatorTrim()
    var draining = false
    var wasRegistered = false

    mutating func prepare(now: UInt64) throws -> Bool {
        if let policy = gateway.takePendingPolicy() {
            core.reload(policy)
            statistics.policyReloads += 1
            logger.notice("policy reloaded", metadata: ["event": "policy_reloaded", "policy": "\(policy.source)",
                                                        "rules": .stringConvertible(policy.rules.count)])
        }
        if now >= nextSample {
            nextSample = now + max(options.sampleIntervalMilliseconds, 10)
            statistics.forgetFinished(core)
            onSample(statistics.sample(core, draining: draining, now: now))
            trim.check()
        }
        if now >= core.nextWakeup { core.tick(now: now) }
        let brokerSilenceLimit = max(options.core.heartbeatMilliseconds, core.brokerHeartbeatMilliseconds) * options.core.liveness
        if now &- lastHeardFromBroker > brokerSilenceLimit {
            core.backendLost(cause: "no message from the broker for \(now &- lastHeardFromBroker) ms")
            backend.close()
            backend = try gateway.connectBackend(context)
            poller = gateway.makePoller(frontend, backend)
            core.backendConnected()
            lastHeardFromBroker = now
        }
        flush()
        return true
    }

    var nextWakeup: UInt64 { min(core.nextWakeup, nextSample) }

    mutating func wait(milliseconds: Int) throws {
        _ = try poller.poll(timeoutMilliseconds: milliseconds)
        if poller.isReadable(2) { gateway.clearWake() }
    }

    mutating func read(now: UInt64) throws {
        var handled = 0
        while handled < 4_096, let (body, extraFrames) = try reader.next(from: frontend) {
            handled += 1
            let command: UInt8 = reader.headerFrame.withUnsafeBytes { $0.count >= 3 ? $0[2] : 0 }
            // Decisions take effect in the order of the callers' messages (a CANCEL never overtakes its FORWARD):
            // the records so far are written before anything but a REQUEST is handled.
            if command != CommandCode.request.rawValue { settleAudit() }
            gateway.receiveFront(&core, reader: reader, command: command, body: body, extraFrames: extraFrames, now: now,
                                 draining: draining)
        }
        settleAudit()
        while try brokerReader.next(from: backend) {
            lastHeardFromBroker = now
            guard let header = try? brokerReader.header.withUnsafeBytes({ try HeaderDecoder.decode($0) }) else {
                logger.warning("undecodable message from the broker")
                continue
            }
            statistics.outcomeArrived(header)
            core.handleBack(header, body: brokerReader.body, now: now)
        }
        if core.backendRegistered != wasRegistered {
            wasRegistered = core.backendRegistered
            if wasRegistered {
                logger.notice("registered with the broker", metadata: ["event": "broker_connected", "broker": "\(options.brokerEndpoint)"])
            }
        }
        flush()
    }

    var inFlight: Int { core.forwardsInFlight }

    mutating func beginDraining(now: UInt64) {
        draining = true
        logger.notice("shutting down: new calls get UNAVAILABLE, forwarded calls may finish",
                      metadata: ["event": "shutdown", "forwards": .stringConvertible(core.forwardsInFlight),
                                 "grace_ms": .stringConvertible(options.shutdownGraceMilliseconds)])
    }

    /// Sends what the core decided (see `Gateway.flush`).
    mutating func flush() {
        gateway.flush(&core, frontend: frontend, backend: backend, encoded: &encoded, statistics: &statistics)
    }

    private mutating func settleAudit() {
        gateway.settleAudit(&core, writer: &auditWriter, statistics: &statistics)
    }
}

import Logging
import ParleyBrokerCore
import ZeroMQ

/// The broker's reactor thread as the shared `ReactorDriver` turns it: timers and samples before waiting, the
/// ROUTER (and subscription notices) after; on SIGTERM, new requests are refused while pending ones finish.
struct BrokerReactor: ReactorProcess {
    var loop: ReactorLoop
    var poller: Poller
    let wake: WakeSignal
    let eventsIndex: Int
    let wakeIndex: Int
    var sampler: BrokerSampler
    let logger: Logger
    let grace: UInt64
    let onSample: (BrokerSample) -> Void
    var trim = AllocatorTrim()
    var draining = false

    mutating func prepare(now: UInt64) throws -> Bool {
        try loop.runTimers(now: now)
        if now >= sampler.due {
            sample(now: now)
            trim.check()
        }
        return true
    }

    var nextWakeup: UInt64 { min(loop.core.nextWakeup, sampler.due) }

    mutating func wait(milliseconds: Int) throws {
        _ = try poller.poll(timeoutMilliseconds: milliseconds)
        if poller.isReadable(wakeIndex) { wake.drain() }
    }

    mutating func read(now: UInt64) throws {
        if poller.isReadable(eventsIndex) { try loop.drainSubscriptions() }
        try loop.drainInbound()
    }

    var inFlight: Int { loop.core.pendingCount }

    mutating func beginDraining(now: UInt64) {
        draining = true
        loop.core.beginDraining()
        logger.notice("shutting down: draining pending requests",
                      metadata: ["event": "shutdown", "pending": .stringConvertible(loop.core.pendingCount), "grace_ms": .stringConvertible(grace)])
        sample(now: now)
    }

    /// Publishes a sample now (metrics, /health) and logs agent changes since the last one.
    mutating func sample(now: UInt64) {
        sampler.take(loop, now: now, draining: draining, onSample: onSample)
    }
}

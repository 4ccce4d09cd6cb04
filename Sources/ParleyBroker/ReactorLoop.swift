import Logging
import ParleyWire
import ZeroMQ

/// The I/O half of the broker: reads frames from the ROUTER, hands decoded headers and untouched body
/// frames to the core, and writes the core's outbox back. Owned by the reactor thread.
struct ReactorLoop {
    let router: Socket
    var core: BrokerCore<Message>
    let logger: Logger
    /// Reused frames and buffers, so that a message in transit allocates only its body's handle.
    private let routingFrame = Message()
    private let headerFrame = Message()
    private let discardFrame = Message()
    private var encoded: [UInt8] = []
    private var unreachable: [PeerID] = []
    /// Messages dropped because a peer's queue was full (ZMQ_SNDHWM).
    private(set) var droppedAtHighWaterMark: UInt64 = 0

    init(router: Socket, core: BrokerCore<Message>, logger: Logger) {
        self.router = router
        self.core = core
        self.logger = logger
        encoded.reserveCapacity(256)
    }

    /// Runs the core's timers when due and sends what they produced.
    mutating func runTimers(now: UInt64) {
        guard now >= core.nextWakeup else { return }
        core.tick(now: now)
        flush()
    }

    /// Reads every message waiting on the ROUTER (until EAGAIN: the socket's readiness is edge-triggered),
    /// at most a batch at a time so timers still run under load.
    mutating func drainInbound() throws {
        var handled = 0
        while handled < 4_096, try router.receive(into: routingFrame, dontWait: true) {
            handled += 1
            try handleOne()
            flush()
        }
    }

    private mutating func handleOne() throws {
        let peer = routingFrame.withUnsafeBytes { PeerID($0) }
        guard routingFrame.hasMore, try router.receive(into: headerFrame) else { return }
        var body: Message?
        var extraFrames = 0
        // The rest of a multipart message is already queued (ZeroMQ delivers messages whole).
        if headerFrame.hasMore {
            let frame = Message()
            _ = try router.receive(into: frame)
            body = frame
            var more = frame.hasMore
            while more {
                _ = try router.receive(into: discardFrame)
                extraFrames += 1
                more = discardFrame.hasMore
            }
        }
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
            answerStatus(peer)
        case .success(let header):
            core.handle(header, body: body, from: peer, now: now)
        case .failure(let error):
            refuse(command: command, peer: peer, reason: error.description)
        }
    }

    private mutating func refuse(command: UInt8, peer: PeerID, reason: String) {
        let callbackID = headerFrame.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) }
        logger.debug("refused malformed message", metadata: ["peer": "\(peer)", "reason": "\(reason)"])
        core.refuseMalformed(command: command, callbackID: callbackID, from: peer, reason: reason)
    }

    private mutating func answerStatus(_ peer: PeerID) {
        let report = StatusReport.json(core.snapshot())
        encoded.removeAll(keepingCapacity: true)
        HeaderEncoder.encode(.statusReply, into: &encoded)
        do {
            guard try peer.withUnsafeBytes({ try router.send($0, more: true, dontWait: true) }) else { return }
            try router.send(encoded, more: true, dontWait: true)
            try router.send(report, dontWait: true)
        } catch {
            logger.debug("status reply not sent", metadata: ["peer": "\(peer)", "error": "\(error)"])
        }
    }

    /// Sends the core's outbox. Unreachable peers are reported back to the core afterwards.
    mutating func flush() {
        for index in core.outbox.indices {
            send(core.outbox[index])
        }
        core.clearOutbox()
        guard !unreachable.isEmpty else { return }
        let now = MonotonicClock.milliseconds()
        for peer in unreachable { core.peerUnreachable(peer, now: now) }
        unreachable.removeAll(keepingCapacity: true)
        flush()
    }

    private mutating func send(_ outbound: Outbound<Message>) {
        encoded.removeAll(keepingCapacity: true)
        HeaderEncoder.encode(outbound.header, into: &encoded)
        let hasBody: Bool
        if case .none = outbound.body { hasBody = false } else { hasBody = true }
        do {
            let routed = try outbound.peer.withUnsafeBytes { try router.send($0, more: true, dontWait: true) }
            guard routed else {
                droppedAtHighWaterMark += 1
                return
            }
            try router.send(encoded, more: hasBody, dontWait: true)
            switch outbound.body {
            case .none: break
            case .payload(let payload): try router.send(payload, dontWait: true)
            case .text(let text): try router.send(text, dontWait: true)
            }
        } catch let error as ZMQError where error == .hostUnreachable {
            unreachable.append(outbound.peer)
        } catch {
            logger.warning("send failed", metadata: ["peer": "\(outbound.peer)", "error": "\(error)"])
        }
    }
}

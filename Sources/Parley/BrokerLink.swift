import ParleyWire
import ZeroMQ

/// The agent's sockets towards one server, owned by its reactor thread: a DEALER for requests, replies,
/// publishing and replays, and (towards the broker) a SUB on the events socket for live events.
struct BrokerLink {
    private let socket: Socket
    private let events: Socket?
    private let wake: WakeSignal
    /// Polls the DEALER, the wake-up and the SUB.
    private var poller = Poller()
    /// Polls the DEALER and the wake-up only, while subscribers are too far behind to read live events.
    private var pollerWithoutEvents = Poller()
    private var eventsReadable = false
    /// Reused frames: headers are decoded where they lie; only bodies are copied out.
    private let headerFrame = Message()
    private let bodyFrame = Message()
    private var encoded: [UInt8] = []

    init(context: Context, target: ConnectionTarget, curve: CurveKeys?, eventsHighWaterMark: Int32, wake: WakeSignal) throws {
        socket = try Socket(context, type: .dealer)
        if let curve, let serverKey = target.serverKey {
            try socket.setCurveKeys(publicKey: curve.publicKey, secretKey: curve.secretKey)
            try socket.setCurveServerKey(serverKey)
        }
        try socket.setLinger(milliseconds: 200)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.setReconnectInterval(milliseconds: 100, max: 2_000)
        try socket.connect(target.endpoint)
        if let eventsEndpoint = target.eventsEndpoint {
            let events = try Socket(context, type: .sub)
            try events.setLinger(milliseconds: 0)
            try events.setReceiveHighWaterMark(eventsHighWaterMark)
            try events.setReconnectInterval(milliseconds: 100, max: 2_000)
            if let curve, let serverKey = target.serverKey {
                try events.setCurveKeys(publicKey: curve.publicKey, secretKey: curve.secretKey)
                try events.setCurveServerKey(serverKey)
            }
            try events.connect(eventsEndpoint)
            self.events = events
        } else {
            events = nil
        }
        self.wake = wake
        for poller in [\BrokerLink.poller, \BrokerLink.pollerWithoutEvents] {
            self[keyPath: poller].add(socket)
            self[keyPath: poller].add(fileDescriptor: wake.fileDescriptor)
        }
        if let events { poller.add(events) }
    }

    /// Sends without blocking; a message that does not fit the queue is dropped (the protocol's retries cover it).
    /// The header is encoded into a buffer the link reuses.
    mutating func send(_ header: Header, body: [UInt8]?) {
        encoded.removeAll(keepingCapacity: true)
        HeaderEncoder.encode(header, into: &encoded)
        do {
            guard try socket.send(encoded, more: body != nil, dontWait: true) else { return }
            if let body { try socket.send(body, dontWait: true) }
        } catch {
            // A closed context or socket: the reactor is stopping.
        }
    }

    /// Starts or stops receiving live events whose topic frame starts with `prefix`.
    func setSubscribed(_ prefix: [UInt8], _ subscribed: Bool) {
        if subscribed { try? events?.subscribe(prefix) } else { try? events?.unsubscribe(prefix) }
    }

    /// Waits until a socket is readable, the wake signal fires, or the timeout passes. Live events are
    /// not watched while `readEvents` is false.
    mutating func poll(timeoutMilliseconds: Int, readEvents: Bool) throws {
        if readEvents {
            _ = try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
            if poller.isReadable(1) { wake.drain() }
            eventsReadable = events != nil && poller.isReadable(2)
        } else {
            _ = try pollerWithoutEvents.poll(timeoutMilliseconds: min(timeoutMilliseconds, 20))
            if pollerWithoutEvents.isReadable(1) { wake.drain() }
            eventsReadable = false
        }
    }

    /// Reads the next message from the server on the DEALER and hands `handle` its header frame's bytes (valid
    /// only inside `handle`) and its body (empty when there is none). False when nothing is waiting.
    func receive(_ handle: (UnsafeRawBufferPointer, [UInt8]) -> Void) throws -> Bool {
        try receive(from: socket, skippingTopic: false, handle)
    }

    /// Reads the next live event (topic frame, header, optional body) like `receive`; false when nothing is
    /// waiting or live events are not watched.
    func receiveEvent(_ handle: (UnsafeRawBufferPointer, [UInt8]) -> Void) throws -> Bool {
        guard eventsReadable, let events else { return false }
        return try receive(from: events, skippingTopic: true, handle)
    }

    /// One multipart message: frames after the body are read and dropped (the server sends at most two).
    private func receive(from socket: Socket, skippingTopic: Bool, _ handle: (UnsafeRawBufferPointer, [UInt8]) -> Void) throws -> Bool {
        guard try socket.receive(into: headerFrame, dontWait: true) else { return false }
        if skippingTopic {
            // The topic frame is the header's prefix for SUB filtering: the header names the topic too.
            guard headerFrame.hasMore, try socket.receive(into: headerFrame) else { return true }
        }
        var body: [UInt8] = []
        if headerFrame.hasMore, try socket.receive(into: bodyFrame) {
            body = bodyFrame.bytes
            while bodyFrame.hasMore, try socket.receive(into: bodyFrame) {}
        }
        headerFrame.withUnsafeBytes { handle($0, body) }
        return true
    }

    func close() {
        socket.close()
        events?.close()
    }
}

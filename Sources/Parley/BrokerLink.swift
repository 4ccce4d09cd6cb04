import ZeroMQ

/// The agent's DEALER socket to the broker and its poller, owned by the reactor thread.
struct BrokerLink {
    private let socket: Socket
    private var poller = Poller()

    init(context: Context, endpoint: String, wake: WakeSignal) throws {
        socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 200)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.setReconnectInterval(milliseconds: 100, max: 2_000)
        try socket.connect(endpoint)
        poller.add(socket)
        poller.add(fileDescriptor: wake.fileDescriptor)
        self.wake = wake
    }

    private let wake: WakeSignal

    /// Sends without blocking; a message that does not fit the queue is dropped (the protocol's retries cover it).
    func sendBestEffort(_ message: OutgoingMessage) {
        do {
            guard try socket.send(message.header, more: message.body != nil, dontWait: true) else { return }
            if let body = message.body { try socket.send(body, dontWait: true) }
        } catch {
            // A closed context or socket: the reactor is stopping.
        }
    }

    /// Waits until the socket is readable, the wake signal fires, or the timeout passes.
    mutating func poll(timeoutMilliseconds: Int) throws {
        _ = try poller.poll(timeoutMilliseconds: timeoutMilliseconds)
        if poller.isReadable(1) { wake.drain() }
    }

    /// The next waiting message, or nil.
    func receive() throws -> [Message]? {
        try socket.receiveMultipart(dontWait: true)
    }

    func close() {
        socket.close()
    }
}

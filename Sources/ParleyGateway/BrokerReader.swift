import ZeroMQ

/// Reads the broker's messages, [header][optional body], from the gateway's DEALER into one reused header frame,
/// discarding any frames beyond those. Owned by the reactor thread.
final class BrokerReader {
    /// The last message's header frame, valid until the next `next`.
    let header = Message()
    /// The last message's body: a new frame the caller may keep.
    private(set) var body: Message?
    private let discarded = Message()

    /// Reads the next message; false when none is waiting. Frames of one message arrive together, so this never
    /// blocks after the first one.
    func next(from socket: Socket) throws -> Bool {
        guard try socket.receive(into: header, dontWait: true) else { return false }
        body = nil
        guard header.hasMore else { return true }
        let body = Message()
        _ = try socket.receive(into: body)
        self.body = body
        var more = body.hasMore
        while more {
            _ = try socket.receive(into: discarded)
            more = discarded.hasMore
        }
        return true
    }
}

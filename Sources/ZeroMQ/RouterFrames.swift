/// Reads messages of the shape [routing id][header][optional body] from a ROUTER socket into reused
/// frames, counting (and discarding) any frames beyond those. Owned by one reactor thread.
public struct RouterReader {
    /// The sender's routing id, valid after `next` returned a message.
    public let routingFrame = Message()
    /// The first frame after the routing id.
    public let headerFrame = Message()
    private let discardFrame = Message()

    public init() {}

    /// The next message's body (a new frame the caller may keep) and the number of frames beyond the
    /// body, or nil when none is waiting. Frames of one message arrive together, so this never blocks
    /// after the first one.
    public func next(from socket: Socket) throws -> (body: Message?, extraFrames: Int)? {
        guard try socket.receive(into: routingFrame, dontWait: true) else { return nil }
        guard routingFrame.hasMore, try socket.receive(into: headerFrame) else { return (nil, 0) }
        guard headerFrame.hasMore else { return (nil, 0) }
        let body = Message()
        _ = try socket.receive(into: body)
        var extra = 0
        var more = body.hasMore
        while more {
            _ = try socket.receive(into: discardFrame)
            extra += 1
            more = discardFrame.hasMore
        }
        return (body, extra)
    }

    /// The sender of the last message read.
    public var peer: PeerID { routingFrame.withUnsafeBytes { PeerID($0) } }
}

extension Socket {
    /// Sends [routing id][header][body] without blocking. False when the peer's queue is full (the
    /// message is dropped); throws `hostUnreachable` for an unknown peer with ROUTER_MANDATORY.
    public func send(to peer: PeerID, header: [UInt8], body: Message?) throws -> Bool {
        try header.withUnsafeBytes { try send(to: peer, header: $0, body: body) }
    }

    /// Sends [routing id][header][body] as above, the header given as bytes in place.
    public func send(to peer: PeerID, header: UnsafeRawBufferPointer, body: Message?) throws -> Bool {
        guard try peer.withUnsafeBytes({ try send($0, more: true, dontWait: true) }) else { return false }
        try send(header, more: body != nil, dontWait: true)
        if let body { try send(body, dontWait: true) }
        return true
    }
}

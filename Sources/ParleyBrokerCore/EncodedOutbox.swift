import ParleyWire

/// Messages the core wants sent, their headers already encoded into one buffer reused from turn to turn: the
/// reactor sends bytes, nothing is encoded twice, and the messages of the hot path (DELIVER, RESULT, CONFIRM,
/// EVENT) are written field by field without building a `Header` value and its Strings.
///
/// `Destination` is a peer for the agents' socket, a topic frame for the events socket.
public struct EncodedOutbox<Destination, Payload: BrokerPayload> {
    /// One message: where it goes, where its header lies in ``headerBytes``, and its body.
    public struct Entry {
        public let destination: Destination
        let headerStart: Int
        let headerEnd: Int
        public let body: Outbound<Payload>.Body
    }

    /// Every header, one after the other.
    public private(set) var headerBytes: [UInt8] = []
    /// The messages, in order.
    public private(set) var entries: [Entry] = []

    init() {
        headerBytes.reserveCapacity(4_096)
        entries.reserveCapacity(64)
    }

    /// Whether nothing is queued.
    public var isEmpty: Bool { entries.isEmpty }

    /// Calls `body` with the encoded header of `entry`.
    public func withHeader<Result>(of entry: Entry, _ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try headerBytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[entry.headerStart..<entry.headerEnd])) }
    }

    /// Queues a message whose header `encode` appends to the buffer.
    mutating func append(to destination: Destination, body: Outbound<Payload>.Body = .none, encode: (inout [UInt8]) -> Void) {
        let start = headerBytes.count
        encode(&headerBytes)
        entries.append(Entry(destination: destination, headerStart: start, headerEnd: headerBytes.count, body: body))
    }

    /// Queues a message with a header given as a value (the paths off the hot one).
    mutating func append(to destination: Destination, header: Header, body: Outbound<Payload>.Body = .none) {
        append(to: destination, body: body) { HeaderEncoder.encode(header, into: &$0) }
    }

    /// Empties it, keeping the storage.
    mutating func removeAll() {
        headerBytes.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
    }

    /// The messages with their headers decoded (tests and tools; a header the core encoded always decodes).
    public var decoded: [(destination: Destination, header: Header, body: Outbound<Payload>.Body)] {
        entries.map { entry in
            let header = withHeader(of: entry) { bytes in
                do throws(DecodeError) { return try HeaderDecoder.decode(bytes) } catch {
                    preconditionFailure("the broker encoded a header it cannot decode: \(error)")
                }
            }
            return (entry.destination, header, entry.body)
        }
    }
}

extension EncodedOutbox where Destination == PeerID {
    /// The messages for the agents' socket, decoded (tests and tools).
    public var messages: [Outbound<Payload>] { decoded.map { Outbound(peer: $0.destination, header: $0.header, body: $0.body) } }
}

extension EncodedOutbox where Destination == [UInt8] {
    /// The messages for the events socket, decoded (tests and tools).
    public var publications: [Publication<Payload>] {
        decoded.map { message in
            let body: Payload? = if case .payload(let payload) = message.body { payload } else { nil }
            return Publication(topicFrame: message.destination, header: message.header, body: body)
        }
    }
}

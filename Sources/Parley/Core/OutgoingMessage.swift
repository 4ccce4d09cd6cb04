import ParleyWire

/// A message for the server, encoded.
struct OutgoingMessage: Sendable {
    let header: [UInt8]
    let body: [UInt8]?

    init(_ header: Header, body: [UInt8]? = nil) {
        self.header = HeaderEncoder.encode(header)
        self.body = body
    }
}

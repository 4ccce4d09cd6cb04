/// A peer of a ROUTER socket, named by its routing id (at most 255 bytes; libzmq's own are 5).
///
/// Ids of up to 16 bytes are held inline so that looking up the sender of a message does not allocate.
public struct PeerID: Hashable, Sendable, CustomStringConvertible {
    @usableFromInline var head: UInt64 = 0
    @usableFromInline var tail: UInt64 = 0
    @usableFromInline var count: UInt8 = 0
    @usableFromInline var overflow: [UInt8] = []

    /// The peer named by these routing-id bytes.
    public init(_ bytes: UnsafeRawBufferPointer) {
        count = UInt8(truncatingIfNeeded: bytes.count)
        guard bytes.count <= 16 else {
            overflow = Array(bytes)
            return
        }
        for index in 0..<bytes.count {
            let value = UInt64(bytes[index])
            if index < 8 { head |= value << (8 * UInt64(index)) } else { tail |= value << (8 * UInt64(index - 8)) }
        }
    }

    /// The peer named by these routing-id bytes.
    public init(_ bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { PeerID($0) }
    }

    /// Calls `body` with the routing-id bytes, for sending. Inlinable: it runs for every message sent, from other
    /// modules, where an unspecialized generic call cost over a thousand instructions per round trip.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if count > 16 || !overflow.isEmpty { return try overflow.withUnsafeBytes(body) }
        var words = (head, tail)
        return try Swift.withUnsafeBytes(of: &words) { try body(UnsafeRawBufferPointer(rebasing: $0[0..<Int(count)])) }
    }

    /// Two words (the count folded into the second), not the synthesized four fields and the overflow array's
    /// elements: a peer is looked up for every message.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(head)
        hasher.combine(tail ^ UInt64(count) << 56)
        if !overflow.isEmpty { overflow.withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    /// The routing id in hex, for logs.
    public var description: String {
        withUnsafeBytes { raw in raw.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined() }
    }
}

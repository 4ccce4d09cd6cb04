/// What the broker core needs from a payload it never decodes: its size, and a cheap fingerprint to tell a retry
/// from a different request reusing a callback id.
///
/// The reactor's implementation is a ZeroMQ message; tests use byte arrays.
///
/// The core keeps a payload (for redelivery, retention, the outcome cache) and puts the same one in the messages to
/// send: the reactor sends a copy of each (`zmq_msg_copy`, a reference to the bytes) and never consumes a payload.
public protocol BrokerPayload {
    /// A 64-bit hash of the bytes. Read-only; the bytes are never interpreted.
    var fingerprint: UInt64 { get }
    /// The size in bytes, for retention limits.
    var byteCount: Int { get }
}

/// The fingerprint of an absent body, which counts as empty.
public let emptyPayloadFingerprint = payloadFingerprint(UnsafeRawBufferPointer(start: nil, count: 0))

/// FNV-1a over 8-byte words then the remaining bytes: a fast, stable fingerprint for payload comparison.
public func payloadFingerprint(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(bytes.count)
    let prime: UInt64 = 0x0000_0100_0000_01b3
    let words = bytes.count / 8
    for index in 0..<words {
        hash = (hash ^ bytes.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self)) &* prime
    }
    for index in (words * 8)..<bytes.count {
        hash = (hash ^ UInt64(bytes[index])) &* prime
    }
    return hash
}

import ParleyBrokerCore
import ZeroMQ

/// ZeroMQ frames are the broker's payloads: `share()` is `zmq_msg_copy` (a reference, not a byte copy).
extension Message: BrokerPayload {
    public var fingerprint: UInt64 { withUnsafeBytes(payloadFingerprint) }
    public var byteCount: Int { count }
}

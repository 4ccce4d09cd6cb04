import ParleyBrokerCore
import ZeroMQ

/// ZeroMQ frames are the broker's payloads, held by reference; the reactor sends a `zmq_msg_copy` of each
/// (a reference to the bytes, not a byte copy) and never the frame itself.
extension Message: BrokerPayload {
    public var fingerprint: UInt64 { withUnsafeBytes(payloadFingerprint) }
    public var byteCount: Int { count }
}

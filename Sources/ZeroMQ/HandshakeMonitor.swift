import CZeroMQ
import Synchronization

/// How a socket's connection attempts went (`zmq_socket_monitor`, handshake events only), read from a PAIR socket
/// on the same thread as the watched socket. For clients that must say why a server never answered: CURVE
/// required, refused, or a wrong server key all look like silence otherwise.
public final class HandshakeMonitor {
    /// One handshake outcome.
    public enum Event: Equatable, Sendable {
        /// The security handshake completed: the server accepted the connection.
        case succeeded
        /// The peers' security mechanisms differ: one uses CURVE, the other does not.
        case mechanismMismatch
        /// The server's authentication (ZAP) refused the client; the value is the ZAP status code (400: denied).
        case refused(status: UInt32)
        /// Any other protocol failure during the handshake (libzmq's code).
        case protocolError(code: UInt32)
        /// The connection closed during the handshake without a reason (with CURVE: the client's server key is not
        /// the server's).
        case closedWithoutReason
    }

    private let pair: Socket
    private static let counter = Atomic<Int>(0)

    /// Starts watching `socket` (call before it connects).
    public init(watching socket: Socket) throws {
        let endpoint = "inproc://parley-handshake-monitor-\(Self.counter.add(1, ordering: .relaxed).newValue)"
        let events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
            | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
        if zmq_socket_monitor(try socket.openHandle(), endpoint, events) != 0 { throw ZMQError.last }
        pair = try Socket(socket.context, type: .pair)
        try pair.setLinger(milliseconds: 0)
        try pair.connect(endpoint)
    }

    /// The next event reported, or nil when none is waiting.
    public func next() throws -> Event? {
        guard let frames = try pair.receiveMultipart(dontWait: true), let first = frames.first, first.count >= 6 else { return nil }
        let bytes = first.bytes
        let event = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        let value = UInt32(bytes[2]) | UInt32(bytes[3]) << 8 | UInt32(bytes[4]) << 16 | UInt32(bytes[5]) << 24
        switch event {
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return .succeeded
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return .refused(status: value)
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            return value == UInt32(ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) ? .mechanismMismatch : .protocolError(code: value)
        default: return .closedWithoutReason
        }
    }

    /// Stops watching.
    public func close() {
        pair.close()
    }
}

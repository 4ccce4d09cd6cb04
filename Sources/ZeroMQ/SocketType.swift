import CZeroMQ

/// The ZeroMQ socket patterns supported by ``Socket``. A plain value: thread-safe.
public enum SocketType: Sendable {
    /// `ZMQ_PAIR`: exclusive pair.
    case pair
    /// `ZMQ_PUB`: publisher.
    case pub
    /// `ZMQ_SUB`: subscriber.
    case sub
    /// `ZMQ_REQ`: strict request/reply client.
    case req
    /// `ZMQ_REP`: strict request/reply server.
    case rep
    /// `ZMQ_DEALER`: asynchronous round-robin client.
    case dealer
    /// `ZMQ_ROUTER`: asynchronous routing server (prefixes a routing-id frame).
    case router
    /// `ZMQ_PULL`: pipeline receiver.
    case pull
    /// `ZMQ_PUSH`: pipeline sender.
    case push
    /// `ZMQ_XPUB`: publisher that receives subscription messages.
    case xpub
    /// `ZMQ_XSUB`: subscriber that sends subscription messages.
    case xsub

    /// The libzmq constant for this type (`ZMQ_PAIR`, `ZMQ_PUB`, ...).
    public var rawValue: Int32 {
        switch self {
        case .pair: ZMQ_PAIR
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pull: ZMQ_PULL
        case .push: ZMQ_PUSH
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        }
    }
}

/// Readiness flags of a socket (`ZMQ_EVENTS`) or poll item (`ZMQ_POLLIN`/`ZMQ_POLLOUT`/`ZMQ_POLLERR`).
/// A plain value: thread-safe.
public struct SocketEvents: OptionSet, Sendable, Hashable {
    /// The `ZMQ_POLL*` bits.
    public var rawValue: Int16

    /// Wraps `ZMQ_POLL*` bits.
    public init(rawValue: Int16) {
        self.rawValue = rawValue
    }

    /// At least one message (or, for a raw file descriptor, data) can be received without blocking (`ZMQ_POLLIN`).
    public static let readable = SocketEvents(rawValue: Int16(ZMQ_POLLIN))
    /// At least one message can be sent without blocking (`ZMQ_POLLOUT`).
    public static let writable = SocketEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a raw file descriptor (`ZMQ_POLLERR`); never set for ZeroMQ sockets.
    public static let error = SocketEvents(rawValue: Int16(ZMQ_POLLERR))
}

import CZeroMQ

/// An error reported by libzmq, carrying the `errno` value it set.
///
/// `ZMQError` is a plain value type: it is `Sendable` and safe to use from any thread.
///
/// Note that ``Socket`` send and receive operations never throw ``wouldBlock`` (`EAGAIN`);
/// they report "would block" by returning `false` or `nil` instead.
public struct ZMQError: Error, Hashable, RawRepresentable, CustomStringConvertible, Sendable {
    /// The `errno` value (POSIX or libzmq-specific, e.g. `ETERM`).
    public var rawValue: Int32

    /// Wraps an `errno` value.
    public init(rawValue: Int32) {
        self.rawValue = rawValue
    }

    /// The error libzmq last reported on the calling thread (`zmq_errno()`).
    ///
    /// `errno` is thread-local, so read this immediately after the failing call, on the same thread.
    public static var last: ZMQError {
        ZMQError(rawValue: zmq_errno())
    }

    /// `EAGAIN`: the operation would block (non-blocking mode, or a timeout expired).
    public static let wouldBlock = ZMQError(rawValue: EAGAIN)
    /// `EINTR`: the call was interrupted by a signal.
    public static let interrupted = ZMQError(rawValue: EINTR)
    /// `EHOSTUNREACH`: a ROUTER with `ZMQ_ROUTER_MANDATORY` was asked to send to an unknown routing id.
    public static let hostUnreachable = ZMQError(rawValue: EHOSTUNREACH)
    /// `ETERM`: the socket's context was shut down or terminated.
    public static let terminated = ZMQError(rawValue: ETERM)
    /// `EINVAL`: an invalid argument (bad option value, malformed endpoint, bad key...).
    public static let invalidArgument = ZMQError(rawValue: EINVAL)
    /// `ENOTSUP`: the operation is not supported by this socket type.
    public static let notSupported = ZMQError(rawValue: ENOTSUP)
    /// `EADDRINUSE`: the endpoint is already bound.
    public static let addressInUse = ZMQError(rawValue: EADDRINUSE)
    /// `EPROTONOSUPPORT`: the endpoint's transport is not supported.
    public static let protocolNotSupported = ZMQError(rawValue: EPROTONOSUPPORT)
    /// `ENODEV`: the endpoint names a nonexistent interface.
    public static let noDevice = ZMQError(rawValue: ENODEV)
    /// `EFAULT`: an invalid pointer or message was passed.
    public static let fault = ZMQError(rawValue: EFAULT)
    /// `ENOTSOCK`: the socket is invalid (for example, it was already closed).
    public static let notSocket = ZMQError(rawValue: ENOTSOCK)
    /// `EFSM`: the operation is not allowed in the socket's current state (e.g. REQ sending twice).
    public static let invalidState = ZMQError(rawValue: EFSM)
    /// `ENOENT`: the endpoint to unbind or disconnect was not bound or connected.
    public static let noEntry = ZMQError(rawValue: ENOENT)
    /// `EMTHREAD`: no I/O thread is available for the operation.
    public static let noIOThread = ZMQError(rawValue: EMTHREAD)

    /// The symbolic `errno` name, e.g. `"EAGAIN"`, or `"errno N"` for values without a known name.
    public var name: String {
        switch rawValue {
        case EAGAIN: "EAGAIN"
        case EINTR: "EINTR"
        case EHOSTUNREACH: "EHOSTUNREACH"
        case ETERM: "ETERM"
        case EINVAL: "EINVAL"
        case ENOTSUP: "ENOTSUP"
        case EADDRINUSE: "EADDRINUSE"
        case EADDRNOTAVAIL: "EADDRNOTAVAIL"
        case EPROTONOSUPPORT: "EPROTONOSUPPORT"
        case ENODEV: "ENODEV"
        case EFAULT: "EFAULT"
        case ENOTSOCK: "ENOTSOCK"
        case EFSM: "EFSM"
        case ENOCOMPATPROTO: "ENOCOMPATPROTO"
        case EMTHREAD: "EMTHREAD"
        case ENOENT: "ENOENT"
        case ENOMEM: "ENOMEM"
        case EMFILE: "EMFILE"
        case ENOBUFS: "ENOBUFS"
        case ENETDOWN: "ENETDOWN"
        case ENETUNREACH: "ENETUNREACH"
        case ECONNREFUSED: "ECONNREFUSED"
        case ECONNRESET: "ECONNRESET"
        case ECONNABORTED: "ECONNABORTED"
        case ENOTCONN: "ENOTCONN"
        case ETIMEDOUT: "ETIMEDOUT"
        case EMSGSIZE: "EMSGSIZE"
        case EAFNOSUPPORT: "EAFNOSUPPORT"
        case EINPROGRESS: "EINPROGRESS"
        case EACCES: "EACCES"
        default: "errno \(rawValue)"
        }
    }

    /// The errno name followed by libzmq's message, e.g. `"EAGAIN (Resource temporarily unavailable)"`.
    public var description: String {
        "\(name) (\(String(cString: zmq_strerror(rawValue))))"
    }
}

import CZeroMQ

/// A ZeroMQ socket.
///
/// **Not thread-safe**: use a socket from one thread at a time, ideally creating it on the thread
/// that uses it. (It is deliberately not `Sendable`.)
///
/// A socket holds a strong reference to its ``Context``, so the context outlives it.
/// ``close()`` (or `deinit`) calls `zmq_close`; pending outgoing messages are then kept for the
/// LINGER period (default: forever), which also delays the context's termination — set
/// ``setLinger(milliseconds:)`` where that matters. Using a socket after ``close()`` throws
/// ``ZMQError/notSocket``.
///
/// Send and receive never throw ``ZMQError/wouldBlock``: they return `false` / `nil` instead.
/// They retry transparently when interrupted by a signal (`EINTR`).
public final class Socket {
    /// The context this socket belongs to (kept alive by the socket).
    public let context: Context
    /// The socket's pattern.
    public let type: SocketType
    /// The libzmq socket, or `nil` once closed.
    internal private(set) var handle: UnsafeMutableRawPointer?

    /// Creates a socket of the given type in `context` (`zmq_socket`).
    ///
    /// - Throws: ``ZMQError/terminated`` if the context was shut down, or another ``ZMQError``
    ///   (e.g. `EMFILE` when too many sockets are open).
    public init(_ context: Context, type: SocketType) throws {
        guard let handle = zmq_socket(context.handle, type.rawValue) else {
            throw ZMQError.last
        }
        self.context = context
        self.type = type
        self.handle = handle
    }

    /// Closes the socket if still open.
    deinit {
        close()
    }

    /// Closes the socket (`zmq_close`). Idempotent; `deinit` calls it.
    ///
    /// Does not change LINGER: set ``setLinger(milliseconds:)`` beforehand if pending messages
    /// must not delay the context's termination.
    public func close() {
        if let handle {
            zmq_close(handle)
            self.handle = nil
        }
    }

    /// Whether ``close()`` has been called.
    public var isClosed: Bool { handle == nil }

    /// The open libzmq handle, or ``ZMQError/notSocket`` once closed.
    @inline(__always)
    internal func openHandle() throws -> UnsafeMutableRawPointer {
        guard let handle else { throw ZMQError.notSocket }
        return handle
    }

    // MARK: - Endpoints

    /// Binds to `endpoint` (`zmq_bind`), e.g. `"tcp://127.0.0.1:*"`, `"ipc:///tmp/x"`, `"inproc://x"`.
    /// Read the actual endpoint (e.g. the ephemeral port) from ``lastEndpoint``.
    public func bind(_ endpoint: String) throws {
        let handle = try openHandle()
        if zmq_bind(handle, endpoint) != 0 { throw ZMQError.last }
    }

    /// Connects to `endpoint` (`zmq_connect`). The connection is made asynchronously; libzmq reconnects as needed.
    public func connect(_ endpoint: String) throws {
        let handle = try openHandle()
        if zmq_connect(handle, endpoint) != 0 { throw ZMQError.last }
    }

    /// Stops listening on a bound endpoint (`zmq_unbind`). Use the exact string from ``lastEndpoint`` for wildcard binds.
    public func unbind(_ endpoint: String) throws {
        let handle = try openHandle()
        if zmq_unbind(handle, endpoint) != 0 { throw ZMQError.last }
    }

    /// Disconnects from a connected endpoint (`zmq_disconnect`).
    public func disconnect(_ endpoint: String) throws {
        let handle = try openHandle()
        if zmq_disconnect(handle, endpoint) != 0 { throw ZMQError.last }
    }

    /// The last endpoint bound or connected (`ZMQ_LAST_ENDPOINT`), with wildcards resolved,
    /// e.g. `"tcp://127.0.0.1:45123"` after binding `"tcp://127.0.0.1:*"`.
    public var lastEndpoint: String {
        get throws {
            let bytes = try bytesOption(ZMQ_LAST_ENDPOINT, capacity: 1024)
            // The value is NUL-terminated; drop the terminator and anything after it.
            let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
            return String(decoding: bytes[..<end], as: UTF8.self)
        }
    }

    // MARK: - Sending

    /// Sends `message` as one frame (`zmq_msg_send`).
    ///
    /// - Parameters:
    ///   - more: another frame of the same multipart message follows (`ZMQ_SNDMORE`).
    ///   - dontWait: fail instead of blocking (`ZMQ_DONTWAIT`).
    /// - Returns: `true` when sent — libzmq took the content and `message` is now empty;
    ///   `false` on `EAGAIN` — `message` is untouched and still owned by the caller.
    /// - Throws: any other ``ZMQError``, e.g. ``ZMQError/hostUnreachable`` from a ROUTER with
    ///   ``setRouterMandatory(_:)``.
    @discardableResult
    public func send(_ message: Message, more: Bool = false, dontWait: Bool = false) throws -> Bool {
        let handle = try openHandle()
        let flags = Self.sendFlags(more: more, dontWait: dontWait)
        while true {
            if zmq_msg_send(message.pointer, handle, flags) >= 0 { return true }
            let error = zmq_errno()
            if error == EINTR { continue }
            if error == EAGAIN { return false }
            throw ZMQError(rawValue: error)
        }
    }

    /// Sends a copy of `bytes` as one frame (`zmq_send`). Flags, result and errors
    /// are as for the `Message` overload; `message` ownership does not apply.
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, dontWait: Bool = false) throws -> Bool {
        let handle = try openHandle()
        let flags = Self.sendFlags(more: more, dontWait: dontWait)
        while true {
            if zmq_send(handle, bytes.baseAddress, bytes.count, flags) >= 0 { return true }
            let error = zmq_errno()
            if error == EINTR { continue }
            if error == EAGAIN { return false }
            throw ZMQError(rawValue: error)
        }
    }

    /// Sends a copy of `bytes` as one frame. Returns `false` on `EAGAIN`.
    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, dontWait: Bool = false) throws -> Bool {
        try bytes.withUnsafeBytes { try send($0, more: more, dontWait: dontWait) }
    }

    /// Sends the UTF-8 bytes of `string` (no terminating NUL) as one frame. Returns `false` on `EAGAIN`.
    @discardableResult
    public func send(_ string: String, more: Bool = false, dontWait: Bool = false) throws -> Bool {
        var string = string
        return try string.withUTF8 { try send(UnsafeRawBufferPointer($0), more: more, dontWait: dontWait) }
    }

    @inline(__always)
    private static func sendFlags(more: Bool, dontWait: Bool) -> Int32 {
        (more ? ZMQ_SNDMORE : 0) | (dontWait ? ZMQ_DONTWAIT : 0)
    }

    // MARK: - Receiving

    /// Receives one frame into `message` (`zmq_msg_recv`), replacing its previous content.
    /// Reuses the existing `Message`: no allocation beyond libzmq's own buffer for large frames.
    ///
    /// - Returns: `true` when a frame was received; `false` on `EAGAIN` (with `dontWait`, or when
    ///   a receive timeout expired). Note that libzmq releases the message's previous content even
    ///   then, so after `false` the message is empty.
    /// - Throws: any other ``ZMQError``, e.g. ``ZMQError/terminated``.
    public func receive(into message: Message, dontWait: Bool = false) throws -> Bool {
        let handle = try openHandle()
        let flags = dontWait ? ZMQ_DONTWAIT : 0
        while true {
            if zmq_msg_recv(message.pointer, handle, flags) >= 0 { return true }
            let error = zmq_errno()
            if error == EINTR { continue }
            if error == EAGAIN { return false }
            throw ZMQError(rawValue: error)
        }
    }

    /// Receives one frame into a new ``Message``; `nil` on `EAGAIN`.
    public func receive(dontWait: Bool = false) throws -> Message? {
        let message = Message()
        return try receive(into: message, dontWait: dontWait) ? message : nil
    }

    /// Receives every frame of one multipart message.
    ///
    /// Only the first frame honours `dontWait`: ZeroMQ delivers multipart messages atomically, so
    /// once the first frame has arrived the rest are already queued and are read with blocking receives.
    ///
    /// - Returns: the frames in order, or `nil` on `EAGAIN` before the first frame.
    public func receiveMultipart(dontWait: Bool = false) throws -> [Message]? {
        guard let first = try receive(dontWait: dontWait) else { return nil }
        var frames = [first]
        var last = first
        while last.hasMore {
            let next = Message()
            guard try receive(into: next) else { break }
            frames.append(next)
            last = next
        }
        return frames
    }

    /// Whether the last frame received has more frames following it (`ZMQ_RCVMORE`).
    public var hasMore: Bool {
        get throws { try intOption(ZMQ_RCVMORE) != 0 }
    }

    /// The socket's current readiness (`ZMQ_EVENTS`): ``SocketEvents/readable`` and/or ``SocketEvents/writable``.
    ///
    /// Reading this also makes libzmq process pending commands; with ``fileDescriptor`` (edge-triggered)
    /// always re-check it after every send/receive.
    public var events: SocketEvents {
        get throws { SocketEvents(rawValue: Int16(truncatingIfNeeded: try intOption(ZMQ_EVENTS))) }
    }

    /// The edge-triggered notification file descriptor (`ZMQ_FD`) for integrating with external event loops.
    /// It signals that ``events`` may have changed; it is not itself readable/writable data.
    public var fileDescriptor: Int32 {
        get throws { try intOption(ZMQ_FD) }
    }
}

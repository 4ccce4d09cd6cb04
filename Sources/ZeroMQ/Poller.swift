import CZeroMQ

/// Waits for readiness on several sockets and raw file descriptors at once (`zmq_poll`).
///
/// **Not thread-safe**, like the sockets it polls: use it on the thread that owns them.
///
/// Reusable: build it once with ``add(_:events:)`` / ``add(fileDescriptor:events:)``, then call
/// ``poll(timeoutMilliseconds:)`` repeatedly; polling does not allocate. The poller keeps its sockets
/// alive; do not ``Socket/close()`` a socket while it is in a poller (polling then fails).
public struct Poller {
    /// The poll items, updated in place by `zmq_poll`.
    private var items: [zmq_pollitem_t] = []
    /// Keeps the polled sockets alive so the item pointers stay valid (`nil` for raw file descriptors).
    private var sockets: [Socket?] = []

    /// Creates an empty poller.
    public init() {}

    /// The number of items added.
    public var count: Int { items.count }

    /// Adds a socket to poll for `events`. Returns its index, for ``isReadable(_:)`` / ``isWritable(_:)``.
    ///
    /// - Precondition: the socket is open.
    @discardableResult
    public mutating func add(_ socket: Socket, events: SocketEvents = .readable) -> Int {
        guard let handle = socket.handle else {
            preconditionFailure("Poller.add: the socket is closed")
        }
        items.append(zmq_pollitem_t(socket: handle, fd: -1, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Adds a raw file descriptor (e.g. an eventfd or pipe used as a wake-up) to poll for `events`.
    /// Returns its index. The poller does not own or close the descriptor.
    @discardableResult
    public mutating func add(fileDescriptor: Int32, events: SocketEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Waits until at least one item is ready or `timeoutMilliseconds` pass (-1 = forever, 0 = just check).
    ///
    /// - Returns: the number of ready items (0 on timeout, or when interrupted by a signal — `EINTR`
    ///   is not thrown, and all items then report not ready).
    /// - Throws: ``ZMQError/terminated`` if a socket's context was shut down, or another ``ZMQError``.
    public mutating func poll(timeoutMilliseconds: Int) throws -> Int {
        let count = Int32(items.count)
        let rc = items.withUnsafeMutableBufferPointer { buffer in
            zmq_poll(buffer.baseAddress, count, timeoutMilliseconds)
        }
        if rc >= 0 { return Int(rc) }
        let error = zmq_errno()
        for index in items.indices { items[index].revents = 0 }
        if error == EINTR { return 0 }
        throw ZMQError(rawValue: error)
    }

    /// The events reported ready for item `index` by the last ``poll(timeoutMilliseconds:)``.
    public func events(_ index: Int) -> SocketEvents {
        SocketEvents(rawValue: items[index].revents)
    }

    /// Whether item `index` was readable at the last ``poll(timeoutMilliseconds:)``.
    public func isReadable(_ index: Int) -> Bool {
        items[index].revents & Int16(ZMQ_POLLIN) != 0
    }

    /// Whether item `index` was writable at the last ``poll(timeoutMilliseconds:)``.
    public func isWritable(_ index: Int) -> Bool {
        items[index].revents & Int16(ZMQ_POLLOUT) != 0
    }
}

import CZeroMQ

/// A ZeroMQ context: owns the I/O threads and is the factory for ``Socket``s.
///
/// Thread-safe: libzmq contexts may be used from any number of threads concurrently,
/// so `Context` is `Sendable` and can be shared freely (each thread then creates its own sockets).
///
/// Lifetime: every ``Socket`` keeps a strong reference to its context, so the context is
/// terminated (`zmq_ctx_term`) only after its last socket has been closed and released.
/// `zmq_ctx_term` waits for each closed socket's pending outgoing messages according to that
/// socket's LINGER option (default: forever), so set ``Socket/setLinger(milliseconds:)`` to a
/// finite value on sockets that may have undeliverable messages.
public final class Context: @unchecked Sendable {
    /// The underlying `void *` libzmq context.
    internal let handle: UnsafeMutableRawPointer

    /// Creates a context with the given number of I/O threads (`ZMQ_IO_THREADS`).
    ///
    /// With `zeroCopyReceive` (libzmq's default), a received message up to 8 KiB points into the buffer it was
    /// read into, shared by the messages of one read: cheap, but a message kept for long keeps that whole buffer
    /// alive (8 KiB for a 100-byte event). Without it (`ZMQ_ZERO_COPY_RECV` = 0), each message over 33 bytes
    /// gets an allocation of its own size, one copy inside libzmq: for processes that keep messages.
    ///
    /// `maxSockets` (`ZMQ_MAX_SOCKETS`) is how many sockets the context may hold; creating one more fails with EMFILE.
    ///
    /// - Throws: ``ZMQError`` if the context can't be created or `ioThreads` is invalid.
    public init(ioThreads: Int32 = 1, zeroCopyReceive: Bool = true, maxSockets: Int32 = 1_023) throws {
        guard let handle = zmq_ctx_new() else {
            throw ZMQError.last
        }
        let zeroCopyReceiveOption: Int32 = 10  // ZMQ_ZERO_COPY_RECV: honoured by libzmq 4.3, declared only in its draft API
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads) != 0
            || zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, maxSockets) != 0
            || zmq_ctx_set(handle, zeroCopyReceiveOption, zeroCopyReceive ? 1 : 0) != 0 {
            let error = ZMQError.last
            zmq_ctx_term(handle)
            throw error
        }
        self.handle = handle
    }

    /// Shuts the context down (`zmq_ctx_shutdown`): blocking operations on its sockets,
    /// in any thread, return with ``ZMQError/terminated``, and no further sockets can be created.
    ///
    /// Sockets must still be closed afterwards. Thread-safe; calling it more than once is harmless.
    public func shutdown() {
        _ = zmq_ctx_shutdown(handle)
    }

    /// Terminates the context (`zmq_ctx_term`), retrying on `EINTR`.
    deinit {
        while zmq_ctx_term(handle) != 0 && zmq_errno() == EINTR {}
    }
}

/// Library-wide information about the linked libzmq.
public enum ZeroMQ {
    /// The version of the libzmq library linked at run time (`zmq_version`).
    public static var version: (major: Int, minor: Int, patch: Int) {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (Int(major), Int(minor), Int(patch))
    }

    /// Whether the linked libzmq carries Parley's io-error guard (deps/libzmq), without which a peer that resets a
    /// connection while its input is stopped aborts the whole process (libzmq 4.3.4 asserts `!_io_error`).
    public static var hasIOErrorGuard: Bool { parley_zmq_has_io_error_guard() != 0 }

    /// Whether the linked libzmq carries Parley's queue budgets (deps/libzmq): ``Socket/setQueueByteBudget(_:)`` and
    /// ``Socket/setMaxSubscriptionsPerConnection(_:)`` work only then.
    public static var hasQueueBudgets: Bool { parley_zmq_has_queue_budgets() != 0 }

    /// The start-up warning a server logs when it links a libzmq without Parley's patches, or nil when it has them.
    public static var unguardedWarning: String? {
        hasIOErrorGuard && hasQueueBudgets ? nil
            : "libzmq \(version.major).\(version.minor).\(version.patch) WITHOUT Parley's patches: a hostile peer "
            + "can abort this process or fill its memory; build with `make` (deps/libzmq/build.sh links the patched libzmq)"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CZeroMQ
import Synchronization

/// Answers ZAP (ZeroMQ RFC 27) authentication requests for one ``Context`` on its own thread.
///
/// The handler binds a ROUTER socket to `inproc://zeromq.zap.01` in the context, synchronously in
/// `init`, then serves on a new thread: for every handshake on a server socket of that context whose
/// ZAP domain is set (``Socket/setZAPDomain(_:)``), libzmq asks it, it calls `authenticate`, and
/// replies 200 with the user id (``ZAPVerdict/allow(userID:)``) or 400 (``ZAPVerdict/deny(reason:)``).
/// Every frame from an admitted client then carries that user id as its `User-Id` property
/// (not the routing-id frame a ROUTER prepends: read it from a payload frame).
///
/// Create it **before** any server socket with a ZAP domain binds, and at most one per context
/// (a second one throws ``ZMQError/addressInUse``).
///
/// Security note: while no handler is bound (before `init`, after ``stop()``), libzmq 4.3 admits
/// every CURVE client whose handshake succeeds — without a `User-Id` (the `ZMQ_ZAP_ENFORCE_DOMAIN`
/// option that would refuse them is a draft API). Treat a message without `User-Id` as unauthenticated.
///
/// Lifetime: the thread runs until ``stop()`` or until the context is shut down
/// (``Context/shutdown()``); releasing the `ZAPHandler` does **not** stop it (that would silently
/// open the door, see above). Its socket keeps the context alive until the thread ends.
///
/// Thread-safe: `ZAPHandler` is `Sendable`, and ``stop()`` may be called from any thread, any number
/// of times. `authenticate` is called on the handler's thread, one request at a time; it must not
/// block for long, since handshakes wait for it.
public final class ZAPHandler: Sendable {
    /// The endpoint libzmq sends ZAP requests to (RFC 27).
    public static let endpoint = "inproc://zeromq.zap.01"

    /// Wakes the serving thread out of its poll when ``stop()`` is called.
    private let wake: WakeSignal
    /// The serving thread.
    private let thread: pthread_t
    /// Whether the serving thread has been joined or detached (it must be exactly once).
    private let released = Mutex(false)

    /// Binds `inproc://zeromq.zap.01` in `context`, then starts answering requests with `authenticate`
    /// on a new thread. Server sockets may bind as soon as this returns.
    ///
    /// - Parameter authenticate: decides each request; called on the handler's thread, serially.
    /// - Throws: ``ZMQError/addressInUse`` if the context already has a ZAP handler,
    ///   ``ZMQError/terminated`` if the context was shut down, or the error from creating the thread.
    public init(context: Context, authenticate: @escaping @Sendable (ZAPRequest) -> ZAPVerdict) throws {
        let socket = try Socket(context, type: .router)
        try socket.setLinger(milliseconds: 0)
        try socket.bind(Self.endpoint)
        let wake = try WakeSignal()

        let server = ZAPServer(socket: socket, wake: wake, authenticate: authenticate)
        let argument = Unmanaged.passRetained(server).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            guard let argument else { return nil }
            let server = Unmanaged<ZAPServer>.fromOpaque(argument).takeRetainedValue()
            server.run()
            return nil
        }, argument)
        guard result == 0 else {
            let server = Unmanaged<ZAPServer>.fromOpaque(argument).takeRetainedValue()
            server.socket.close()
            throw ZMQError(rawValue: result)
        }
        self.wake = wake
        self.thread = thread
    }

    /// Stops answering: ends the handler's thread, which closes its socket (unbinding
    /// `inproc://zeromq.zap.01`), and waits for it to finish.
    ///
    /// Idempotent and thread-safe. Called from inside `authenticate` (the handler's own thread), it
    /// only asks the thread to end once the queued requests are answered, and returns at once.
    public func stop() {
        wake.signal()
        if pthread_equal(pthread_self(), thread) != 0 { return }
        released.withLock { released in
            guard !released else { return }
            pthread_join(thread, nil)
            released = true
        }
    }

    /// Detaches the thread if nobody joined it. Does not stop it: see the type's documentation.
    deinit {
        released.withLock { released in
            guard !released else { return }
            pthread_detach(thread)
            released = true
        }
    }
}

/// The serving side of a ``ZAPHandler``: owned by, and only used on, the handler's thread
/// (it is handed over once, through `pthread_create`). Not thread-safe.
private final class ZAPServer {
    /// The ROUTER bound to `inproc://zeromq.zap.01`.
    let socket: Socket
    let wake: WakeSignal
    let authenticate: @Sendable (ZAPRequest) -> ZAPVerdict

    init(socket: Socket, wake: WakeSignal, authenticate: @escaping @Sendable (ZAPRequest) -> ZAPVerdict) {
        self.socket = socket
        self.wake = wake
        self.authenticate = authenticate
    }

    /// Serves until woken by `stop()` or until the context is shut down; closes the socket on the way out.
    func run() {
        defer {
            // zmq_close releases an inproc endpoint only later, on libzmq's reaper thread; unbinding
            // first frees it now, so a new handler can bind as soon as stop() returns.
            try? socket.unbind(ZAPHandler.endpoint)
            socket.close()
        }
        var poller = Poller()
        let socketIndex = poller.add(socket)
        let wakeIndex = poller.add(fileDescriptor: wake.fileDescriptor)
        while true {
            do {
                _ = try poller.poll(timeoutMilliseconds: -1)
            } catch {
                return // ETERM: the context is shutting down (nothing else is expected from zmq_poll)
            }
            if poller.isReadable(wakeIndex) { return }
            if poller.isReadable(socketIndex) {
                do {
                    while let frames = try socket.receiveMultipart(dontWait: true) {
                        try answer(frames)
                    }
                } catch let error as ZMQError where error == .terminated {
                    return
                } catch {
                    continue // a failed receive or send loses at most that request; poll again
                }
            }
        }
    }

    /// Answers one request (ROUTER frames: envelope ending with an empty delimiter, then the ZAP body).
    /// Requests without an envelope are dropped: there is no way to address a reply.
    private func answer(_ frames: [Message]) throws {
        guard let delimiter = frames.firstIndex(where: { $0.count == 0 }), delimiter > 0 else { return }
        let envelope = frames[...delimiter]
        let body = frames[(delimiter + 1)...].map(\.bytes)
        let reply = Self.reply(to: body, authenticate: authenticate)
        for frame in envelope {
            try socket.send(frame, more: true, dontWait: true)
        }
        for (index, frame) in reply.enumerated() {
            try socket.send(frame, more: index < reply.count - 1, dontWait: true)
        }
    }

    /// The ZAP reply body for a request body (RFC 27): version, request id, status code, status text,
    /// user id, metadata. Never traps on malformed input.
    static func reply(to body: [[UInt8]], authenticate: (ZAPRequest) -> ZAPVerdict) -> [[UInt8]] {
        let requestID = body.count > 1 ? body[1] : []
        func reply(_ code: String, _ text: String, userID: String = "") -> [[UInt8]] {
            [Array("1.0".utf8), requestID, Array(code.utf8), Array(text.utf8), Array(userID.utf8), []]
        }
        guard let version = body.first, version == Array("1.0".utf8) else {
            return reply("400", "unsupported version")
        }
        guard body.count >= 6 else {
            return reply("400", "malformed request")
        }
        let request = ZAPRequest(
            domain: String(decoding: body[2], as: UTF8.self),
            address: String(decoding: body[3], as: UTF8.self),
            mechanism: String(decoding: body[5], as: UTF8.self),
            credentials: Array(body[6...]),
            identity: body[4]
        )
        switch authenticate(request) {
        case .allow(let userID):
            return reply("200", "OK", userID: userID)
        case .deny(let reason):
            return reply("400", reason)
        }
    }
}

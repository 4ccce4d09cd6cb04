#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ZeroMQ

/// Generous bound for "this should arrive" waits; only guards against hangs.
let arrivalTimeout = 5_000
/// Bounded wait for "this should never arrive" checks.
let silenceTimeout = 1_000

/// Waits (bounded) for one multipart message on `socket`.
func receiveMultipart(_ socket: Socket, timeoutMilliseconds: Int = arrivalTimeout) throws -> [Message]? {
    var poller = Poller()
    poller.add(socket)
    guard try poller.poll(timeoutMilliseconds: timeoutMilliseconds) > 0 else { return nil }
    return try socket.receiveMultipart(dontWait: true)
}

/// Waits (bounded) for one frame on `socket`.
func receive(_ socket: Socket, timeoutMilliseconds: Int = arrivalTimeout) throws -> Message? {
    var poller = Poller()
    poller.add(socket)
    guard try poller.poll(timeoutMilliseconds: timeoutMilliseconds) > 0 else { return nil }
    return try socket.receive(dontWait: true)
}

/// Makes a socket with LINGER 0, so closing it never delays context termination.
func makeSocket(_ context: Context, _ type: SocketType) throws -> Socket {
    let socket = try Socket(context, type: type)
    try socket.setLinger(milliseconds: 0)
    return socket
}

/// A unique ipc endpoint under /tmp.
func uniqueIPCEndpoint() -> String {
    "ipc:///tmp/parley-zmq-test-\(getpid())-\(UInt64.random(in: 0 ... .max))"
}

/// Removes the socket file behind an `ipc://` endpoint (libzmq may leave it behind); no-op for other transports.
func removeIPCFile(_ endpoint: String) {
    let prefix = "ipc://"
    guard endpoint.hasPrefix(prefix) else { return }
    unlink(String(endpoint.dropFirst(prefix.count)))
}

/// Transports exercised by round-trip tests.
enum Transport: String, CaseIterable, Sendable {
    case tcp, ipc, inproc

    /// The endpoint to bind (wildcards resolved later through `lastEndpoint`).
    var bindEndpoint: String {
        switch self {
        case .tcp: "tcp://127.0.0.1:*"
        case .ipc: uniqueIPCEndpoint()
        case .inproc: "inproc://parley-test-\(UInt64.random(in: 0 ... .max))"
        }
    }
}

import ArgumentParser
import CZeroMQ
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// `parley-bench proxy`: the logic-free events baseline, run in its own process: an XSUB/XPUB proxy over raw
/// libzmq — by default `zmq_proxy` itself (libzmq's C loop), or with `--engine swift` the same loop written
/// over the ZeroMQ module, moving `Message`s without copies like the forwarder.
///
/// Publishers connect a PUB to the frontend XSUB, subscribers a SUB to the backend XPUB. Every message from
/// the XSUB goes to the XPUB frame by frame, unchanged; every subscription message from the XPUB goes to the
/// XSUB, so that it reaches the publishers. The XPUB's send high-water mark is the broker's `--events-hwm`
/// in the events scenarios (1,000,000); the XSUB's receive queue is unlimited, because a raw PUB has no flow
/// control (the broker's publisher keeps a window of unconfirmed publishes instead).
struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Internal: the logic-free XSUB/XPUB proxy.",
        shouldDisplay: false
    )

    @Option(help: "Interface to bind both sockets to, with ephemeral ports.")
    var host = "127.0.0.1"

    @Option(help: "Send high-water mark of the XPUB (per subscriber).")
    var hwm: Int32 = 1_000_000

    @Option(help: "libzmq (zmq_proxy, libzmq's own C loop) or swift (the loop below, over the ZeroMQ module).")
    var engine = "libzmq"

    func run() throws {
        if engine == "libzmq" { return try runZMQProxy() }
        let context = try Context()
        let frontend = try Socket(context, type: .xsub)
        let backend = try Socket(context, type: .xpub)
        try frontend.setLinger(milliseconds: 0)
        try frontend.setReceiveHighWaterMark(0)
        try frontend.setSendHighWaterMark(0)
        try backend.setLinger(milliseconds: 0)
        try backend.setSendHighWaterMark(hwm)
        try frontend.bind("tcp://\(host):*")
        try backend.bind("tcp://\(host):*")
        emitLine("proxy ready frontend=\(try frontend.lastEndpoint) backend=\(try backend.lastEndpoint)")

        var poller = Poller()
        let frontIndex = poller.add(frontend)
        let backIndex = poller.add(backend)
        let frame = Message()
        while true {
            _ = try poller.poll(timeoutMilliseconds: 1_000)
            if poller.isReadable(frontIndex) { try move(from: frontend, to: backend, frame, limit: 1_024) }
            if poller.isReadable(backIndex) { try move(from: backend, to: frontend, frame, limit: 1_024) }
        }
    }

    /// The same sockets driven by `zmq_proxy` itself: no Swift in the data path at all.
    private func runZMQProxy() throws {
        guard let context = zmq_ctx_new(), let frontend = zmq_socket(context, ZMQ_XSUB),
              let backend = zmq_socket(context, ZMQ_XPUB) else { throw ZMQError.last }
        func set(_ socket: UnsafeMutableRawPointer, _ option: Int32, _ value: Int32) throws {
            var value = value
            guard zmq_setsockopt(socket, option, &value, MemoryLayout<Int32>.size) == 0 else { throw ZMQError.last }
        }
        func bind(_ socket: UnsafeMutableRawPointer) throws -> String {
            guard zmq_bind(socket, "tcp://\(host):*") == 0 else { throw ZMQError.last }
            var buffer = [CChar](repeating: 0, count: 256)
            var size = buffer.count
            guard zmq_getsockopt(socket, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { throw ZMQError.last }
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        try set(frontend, ZMQ_LINGER, 0)
        try set(frontend, ZMQ_RCVHWM, 0)
        try set(frontend, ZMQ_SNDHWM, 0)
        try set(backend, ZMQ_LINGER, 0)
        try set(backend, ZMQ_SNDHWM, hwm)
        let frontendEndpoint = try bind(frontend)
        let backendEndpoint = try bind(backend)
        emitLine("proxy ready frontend=\(frontendEndpoint) backend=\(backendEndpoint)")
        _ = zmq_proxy(frontend, backend, nil)
        throw ZMQError.last
    }

    /// Moves up to `limit` whole messages from `source` to `destination`, frame by frame (send-consumes).
    private func move(from source: Socket, to destination: Socket, _ frame: Message, limit: Int) throws {
        var moved = 0
        while moved < limit, try source.receive(into: frame, dontWait: true) {
            moved += 1
            var more = frame.hasMore
            try destination.send(frame, more: more)
            while more {
                _ = try source.receive(into: frame)
                more = frame.hasMore
                try destination.send(frame, more: more)
            }
        }
    }
}

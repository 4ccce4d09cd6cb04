import NIOCore
import NIOHTTP1
import NIOPosix

/// A response of the ``MetricsHTTPServer``.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    /// Set for a server-sent-events stream: the connection stays open and `hub` writes to it (`body` is unused).
    public var stream: (hub: EventStreamHub, agent: String?)?

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A plain-text response.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, body: Array(text.utf8))
    }

    /// A server-sent-events stream of `hub`'s items (only `agent`'s when given).
    public static func eventStream(_ hub: EventStreamHub, agent: String?) -> HTTPResponse {
        var response = HTTPResponse(status: 200, contentType: "text/event-stream", body: [])
        response.stream = (hub, agent)
        return response
    }
}

/// The listening socket could not be set up.
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// The HTTP/1.1 server behind `/metrics` and `/health`, on SwiftNIO: one event-loop thread serves every connection
/// at once, so idle or slow clients (a stuck scraper, a load balancer's spare connections) never delay a health probe.
///
/// It answers `GET` and `HEAD` through `route` (404 for unknown paths, 405 for other methods, 400 for garbage or a
/// malformed query, 431 for a request head over 8 KiB), with `Connection: close`, and closes. A connection that sends
/// nothing for `ioTimeoutMilliseconds` is closed. A route may answer with an ``EventStreamHub``'s stream instead: that
/// connection stays open, and the server stops writing to it while more than 32 KiB wait to be sent (besides the
/// kernel's send buffer, set to 64 KiB). `route` and `onTick` run on the server's one thread, never at the same time.
///
/// `init` binds and listens (so a busy port is a start-up error); `run()` blocks its thread until `stop()`,
/// calling `onTick` at least every `tickMilliseconds` (the owner refreshes its metrics there). `stop()` is thread-safe.
public final class MetricsHTTPServer: Sendable {
    /// The bound address, such as `127.0.0.1:9410` or `[::1]:9410`.
    public let boundAddress: String
    /// The bound port (useful when asked for port 0).
    public let port: UInt16
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    private let ticks: RepeatedTask

    /// Binds `address:port` (port 0: any free port; the address an IPv4 or IPv6 literal) and listens.
    ///
    /// - Parameters:
    ///   - route: the response for a `GET` of the request's target, or nil for 404. Runs on the server thread.
    ///   - onTick: runs on the server thread at least every `tickMilliseconds`, and before every request.
    public init(address: String, port: UInt16, ioTimeoutMilliseconds: Int = 2_000, tickMilliseconds: Int32 = 1_000,
                route: @escaping @Sendable (_ method: String, _ target: HTTPRequestTarget) -> HTTPResponse?,
                onTick: @escaping @Sendable () -> Void = {}) throws {
        let socketAddress: SocketAddress
        do {
            socketAddress = try SocketAddress(ipAddress: address, port: Int(port))
        } catch {
            throw HTTPServerError(description: "'\(address)' is not an IP address to listen on")
        }
        let shown = address.contains(":") ? "[\(address)]" : address
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let idleTimeout = TimeAmount.milliseconds(Int64(ioTimeoutMilliseconds))
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 8 << 10, high: 32 << 10))
            // A client that stops reading holds at most this much in the kernel too (the kernel doubles it).
            .childChannelOption(.socketOption(.so_sndbuf), value: 64 << 10)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    var limits = NIOHTTPDecoderLimitConfiguration()
                    limits.maxHeaderListSize = 8_192
                    limits.maxHeaderFieldSize = 8_192
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout), name: MetricsRequestHandler.idleHandlerName)
                    try pipeline.addHandler(HTTPResponseEncoder())
                    try pipeline.addHandler(ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes,
                                                                                    informationalResponseStrategy: .drop,
                                                                                    limitConfiguration: limits)))
                    try pipeline.addHandler(MetricsRequestHandler(route: route, onTick: onTick))
                }
            }
        do {
            channel = try bootstrap.bind(to: socketAddress).wait()
        } catch {
            try? group.syncShutdownGracefully()
            let reason = (error as? IOError).map { "\($0.description.contains("Address already in use") ? "Address already in use" : $0.description)" }
                ?? "\(error)"
            throw HTTPServerError(description: "cannot listen on \(shown):\(port) for metrics: bind: \(reason)")
        }
        self.port = UInt16(channel.localAddress?.port ?? Int(port))
        boundAddress = "\(shown):\(self.port)"
        ticks = channel.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(Int64(tickMilliseconds))) { _ in onTick() }
    }

    /// Serves until `stop()`; then closes the listening socket and stops the server thread.
    public func run() {
        try? channel.closeFuture.wait()
        ticks.cancel()
        try? group.syncShutdownGracefully()
    }

    /// Makes `run()` return. Thread-safe; idempotent.
    public func stop() {
        channel.close(promise: nil)
    }
}

/// Answers one request per connection: the route's response, or the error it calls for, then close.
private final class MetricsRequestHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let idleHandlerName = "idle"
    private let route: @Sendable (String, HTTPRequestTarget) -> HTTPResponse?
    private let onTick: @Sendable () -> Void
    private var request: HTTPRequestHead?
    private var answered = false
    /// The hub streaming to this connection, and its client id there.
    private var streaming: (hub: EventStreamHub, id: Int)?

    init(route: @escaping @Sendable (String, HTTPRequestTarget) -> HTTPResponse?, onTick: @escaping @Sendable () -> Void) {
        self.route = route
        self.onTick = onTick
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break
        case .end:
            guard let head = request, !answered else { return }
            guard head.method == .GET || head.method == .HEAD else {
                return respond(context, .text(405, "only GET and HEAD\n"), includeBody: true, allow: true)
            }
            onTick()
            guard let target = HTTPRequestTarget(head.uri) else {
                return respond(context, .text(400, "malformed query: expected name=value pairs joined by &\n"), includeBody: true)
            }
            let response = route(head.method.rawValue, target) ?? .text(404, "not found: try /, /metrics or /health\n")
            if let stream = response.stream, head.method == .GET {
                return startStream(context, stream.hub, agent: stream.agent)
            }
            respond(context, response, includeBody: head.method == .GET)
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let streaming, context.channel.isWritable { streaming.hub.writable() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let streaming { streaming.hub.detach(streaming.id) }
        context.fireChannelInactive()
    }

    /// Sends the head of a server-sent-events stream and hands the connection to `hub` (503 when it is full).
    private func startStream(_ context: ChannelHandlerContext, _ hub: EventStreamHub, agent: String?) {
        guard let id = hub.attach(context.channel, agent: agent) else {
            return respond(context, .text(503, "too many event streams open (at most \(hub.maxClients))\n"), includeBody: true)
        }
        answered = true
        streaming = (hub, id)
        context.pipeline.syncOperations.removeHandler(name: Self.idleHandlerName, promise: nil)  // a stream is quiet at times
        let headers = HTTPHeaders([("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        // Browsers reconnect a second after the stream ends (a restarted process).
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: "retry: 1000\n\n")))), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !answered else { return context.close(promise: nil) }
        let tooLarge = (error as? HTTPParserError) == .headerOverflow
        respond(context, tooLarge ? .text(431, "request head too large\n") : .text(400, "bad request\n"), includeBody: true)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent { return context.close(promise: nil) }  // said nothing in time
        context.fireUserInboundEventTriggered(event)
    }

    private func respond(_ context: ChannelHandlerContext, _ response: HTTPResponse, includeBody: Bool, allow: Bool = false) {
        answered = true
        var headers = HTTPHeaders([("Content-Type", response.contentType), ("Content-Length", "\(response.body.count)"),
                                   ("Cache-Control", "no-store"), ("Connection", "close")])
        if allow { headers.add(name: "Allow", value: "GET, HEAD") }
        let status = HTTPResponseStatus(statusCode: response.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if includeBody, !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
    }
}

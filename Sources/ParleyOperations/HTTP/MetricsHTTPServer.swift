#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A response of the ``MetricsHTTPServer``.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]

    public init(status: Int, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A plain-text response.
    public static func text(_ status: Int, _ text: String) -> HTTPResponse {
        HTTPResponse(status: status, body: Array(text.utf8))
    }
}

/// The listening socket could not be set up.
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public let description: String
}

/// The small HTTP/1.1 server behind `/metrics` and `/health`: a plain POSIX socket served by one thread.
///
/// Why not SwiftNIO or an HTTP framework: a scrape endpoint answers one GET every few seconds, and SwiftNIO
/// (with an HTTP server on top) would add minutes to every clean build for that. This server accepts one
/// connection at a time, reads the request head (at most 8 KiB, within `ioTimeoutMilliseconds`), answers `GET`
/// and `HEAD` through `route` (404 for unknown paths, 405 for other methods, 400 for garbage), writes the whole
/// response with `Connection: close`, and closes. A client that stalls holds the server for at most the timeout.
///
/// `init` binds and listens (so a busy port is a start-up error); `run()` blocks its thread until `stop()`,
/// calling `onTick` at least every `tickMilliseconds` (the owner refreshes its metrics there). `stop()` is thread-safe.
public final class MetricsHTTPServer: Sendable {
    /// The bound address, such as `127.0.0.1:9410`.
    public let boundAddress: String
    /// The bound port (useful when asked for port 0).
    public let port: UInt16
    private let listener: Int32
    private let wakePipe: (read: Int32, write: Int32)
    private let stopping = Atomic<Bool>(false)
    private let route: @Sendable (_ method: String, _ path: String) -> HTTPResponse?
    private let onTick: @Sendable () -> Void
    private let tickMilliseconds: Int32
    private let ioTimeoutMilliseconds: Int

    /// Binds `address:port` (port 0: any free port) and listens.
    ///
    /// - Parameters:
    ///   - route: the response for a `GET` of `path` (the query string removed), or nil for 404. Runs on the server thread.
    ///   - onTick: runs on the server thread at least every `tickMilliseconds`, and before every request.
    public init(address: String, port: UInt16, ioTimeoutMilliseconds: Int = 2_000, tickMilliseconds: Int32 = 1_000,
                route: @escaping @Sendable (_ method: String, _ path: String) -> HTTPResponse?,
                onTick: @escaping @Sendable () -> Void = {}) throws {
        guard let ip = IPAddress(address) else {
            throw HTTPServerError(description: "'\(address)' is not an IP address to listen on")
        }
        func failure(_ what: String) -> HTTPServerError {
            HTTPServerError(description: "cannot listen on \(ip):\(port) for metrics: \(what): \(String(cString: strerror(errno)))")
        }
        let domain: Int32
        switch ip.family {
        case .v4: domain = AF_INET
        case .v6: domain = AF_INET6
        }
        let descriptor = socket(domain, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw failure("socket") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var bound: Int32
        switch ip.family {
        case .v4(let addr):
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = port.bigEndian
            socketAddress.sin_addr = addr
            bound = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .v6(let addr):
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = port.bigEndian
            socketAddress.sin6_addr = addr
            bound = withUnsafePointer(to: &socketAddress) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            let error = failure("bind")
            close(descriptor)
            throw error
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        let boundPort = withUnsafePointer(to: &storage) { pointer -> UInt16 in
            switch ip.family {
            case .v4: pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            case .v6: pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
        }
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            let error = failure("pipe")
            close(descriptor)
            throw error
        }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        self.listener = descriptor
        self.wakePipe = (pipeEnds[0], pipeEnds[1])
        self.port = boundPort
        self.boundAddress = "\(ip):\(boundPort)"
        self.route = route
        self.onTick = onTick
        self.tickMilliseconds = tickMilliseconds
        self.ioTimeoutMilliseconds = ioTimeoutMilliseconds
    }

    /// Serves until `stop()`; then closes the listening socket.
    public func run() {
        defer {
            close(listener)
            close(wakePipe.read)
            close(wakePipe.write)
        }
        var descriptors = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
        while !stopping.load(ordering: .acquiring) {
            onTick()
            let ready = poll(&descriptors, nfds_t(descriptors.count), tickMilliseconds)
            guard ready > 0, descriptors[0].revents & Int16(POLLIN) != 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
            serve(connection)
            close(connection)
        }
    }

    /// Makes `run()` return. Thread-safe; idempotent.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
    }

    private func serve(_ connection: Int32) {
        var timeout = timeval(tv_sec: ioTimeoutMilliseconds / 1_000, tv_usec: (ioTimeoutMilliseconds % 1_000) * 1_000)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(connection, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let head: [UInt8]
        switch readHead(connection) {
        case .complete(let bytes): head = bytes
        case .tooLarge: return respond(connection, .text(431, "request head too large\n"), includeBody: true)
        case .failed: return  // timeout or the client went away: nothing to answer
        }
        let requestLine = head.prefix { $0 != UInt8(ascii: "\r") && $0 != UInt8(ascii: "\n") }
        let parts = requestLine.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)),
              let method = String(validating: parts[0], as: UTF8.self),
              let target = String(validating: parts[1], as: UTF8.self), target.hasPrefix("/") else {
            return respond(connection, .text(400, "bad request\n"), includeBody: true)
        }
        guard method == "GET" || method == "HEAD" else {
            return respond(connection, .text(405, "only GET and HEAD\n"), includeBody: true, extraHeaders: "Allow: GET, HEAD\r\n")
        }
        onTick()
        let path = String(target.prefix { $0 != "?" })
        let response = route(method, path) ?? .text(404, "not found: try /metrics or /health\n")
        respond(connection, response, includeBody: method == "GET")
    }

    private enum HeadRead { case complete([UInt8]), tooLarge, failed }

    /// Reads until the blank line ending the request head.
    private func readHead(_ connection: Int32) -> HeadRead {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 2_048)
        let terminator: [UInt8] = Array("\r\n\r\n".utf8)
        let bareTerminator: [UInt8] = Array("\n\n".utf8)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { return .failed }
            bytes.append(contentsOf: chunk[0..<count])
            if contains(bytes, terminator) || contains(bytes, bareTerminator) { return .complete(bytes) }
            if bytes.count > 8_192 { return .tooLarge }
        }
    }

    private func contains(_ bytes: [UInt8], _ pattern: [UInt8]) -> Bool {
        guard bytes.count >= pattern.count else { return false }
        for start in 0...(bytes.count - pattern.count) where bytes[start] == pattern[0] {
            if bytes[start..<(start + pattern.count)].elementsEqual(pattern) { return true }
        }
        return false
    }

    private func respond(_ connection: Int32, _ response: HTTPResponse, includeBody: Bool, extraHeaders: String = "") {
        let head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
            + "Content-Type: \(response.contentType)\r\nContent-Length: \(response.body.count)\r\n"
            + "Cache-Control: no-store\r\nConnection: close\r\n\(extraHeaders)\r\n"
        var bytes = Array(head.utf8)
        if includeBody { bytes += response.body }
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { send(connection, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { return }
            offset += sent
        }
        // Lingering close: read what the client still sends (bounded by the I/O timeout and 64 KiB) so that closing
        // with unread input does not reset the connection before the client has read the response.
        shutdown(connection, Int32(SHUT_WR))
        var drained = 0
        var sink = [UInt8](repeating: 0, count: 4_096)
        while drained < 65_536 {
            let count = sink.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            drained += count
        }
    }

    private static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}

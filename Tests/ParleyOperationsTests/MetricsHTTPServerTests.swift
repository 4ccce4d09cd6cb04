import Foundation
import ParleyOperations
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Metrics HTTP server", .timeLimit(.minutes(1)))
struct MetricsHTTPServerTests {
    /// A server on a free loopback port, running on its own thread until `body` returns.
    private func withServer(ioTimeoutMilliseconds: Int = 2_000, _ body: (UInt16) async throws -> Void) async throws {
        let ticks = Atomic<Int>(0)
        let server = try MetricsHTTPServer(address: "127.0.0.1", port: 0, ioTimeoutMilliseconds: ioTimeoutMilliseconds, tickMilliseconds: 50,
                                           route: { _, target in
                                               target.path == "/metrics" ? .text(200, "up 1\nticks \(ticks.load(ordering: .relaxed))\n") : nil
                                           },
                                           onTick: { ticks.add(1, ordering: .relaxed) })
        let finished = Mutex(false)
        let thread = Thread {
            server.run()
            finished.withLock { $0 = true }
        }
        thread.start()
        defer {
            server.stop()
            let deadline = Date().addingTimeInterval(5)
            while !finished.withLock({ $0 }), Date() < deadline { usleep(5_000) }
        }
        #expect(server.boundAddress == "127.0.0.1:\(server.port)")
        try await body(server.port)
    }

    @Test("GET /metrics answers 200 with the body and its length; onTick runs before each request")
    func getMetrics() async throws {
        try await withServer { port in
            let response = try RawHTTP.exchange(port: port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(response.contains("Content-Length: "))
            #expect(response.contains("Connection: close"))
            #expect(response.contains("\r\n\r\nup 1\nticks "))
            let ticks = Int(response.split(separator: "\n").last { $0.hasPrefix("ticks ") }!.dropFirst(6))!
            #expect(ticks >= 1)
        }
    }

    @Test("unknown paths get 404, other methods 405, garbage 400, HEAD the headers only; the query string is ignored")
    func otherRequests() async throws {
        try await withServer { port in
            #expect(try RawHTTP.exchange(port: port, "GET /nothing HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 404 "))
            let post = try RawHTTP.exchange(port: port, "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            #expect(post.hasPrefix("HTTP/1.1 405 ") && post.contains("Allow: GET, HEAD"))
            #expect(try RawHTTP.exchange(port: port, "HELLO\r\n\r\n").hasPrefix("HTTP/1.1 400 "))
            let head = try RawHTTP.exchange(port: port, "HEAD /metrics HTTP/1.0\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200 ") && head.hasSuffix("\r\n\r\n"))
            #expect(try RawHTTP.exchange(port: port, "GET /metrics?x=1 HTTP/1.1\r\n\r\n").contains("up 1"))
            #expect(try RawHTTP.exchange(port: port, "GET /metrics HTTP/1.1\r\n" + String(repeating: "X-Pad: 0123456789\r\n", count: 600))
                .hasPrefix("HTTP/1.1 431 "))
        }
    }

    @Test("a client that connects and says nothing delays nobody, and is disconnected after the I/O timeout")
    func stalledClient() async throws {
        try await withServer(ioTimeoutMilliseconds: 300) { port in
            let stalled = try RawHTTP.connect(port: port)
            defer { close(stalled) }
            #expect(try RawHTTP.exchange(port: port, "GET /metrics HTTP/1.1\r\n\r\n").hasPrefix("HTTP/1.1 200 "))
            var byte: UInt8 = 0
            #expect(recv(stalled, &byte, 1, 0) == 0, "the silent connection is closed by the server (the read does not time out)")
        }
    }

    @Test("a busy port is a start-up error naming the address")
    func busyPort() throws {
        let first = try MetricsHTTPServer(address: "127.0.0.1", port: 0, route: { _, _ in nil })
        defer { first.stop(); first.run() }
        #expect(throws: HTTPServerError.self) { try MetricsHTTPServer(address: "127.0.0.1", port: first.port, route: { _, _ in nil }) }
        do {
            _ = try MetricsHTTPServer(address: "127.0.0.1", port: first.port, route: { _, _ in nil })
        } catch {
            #expect("\(error)".contains("127.0.0.1:\(first.port)"))
            #expect("\(error)".contains("in use"))
        }
        #expect(throws: HTTPServerError.self) { try MetricsHTTPServer(address: "localhost", port: 0, route: { _, _ in nil }) }
    }

    @Test("IPv6 loopback works too")
    func ipv6() async throws {
        guard let server = try? MetricsHTTPServer(address: "::1", port: 0, route: { _, _ in .text(200, "six\n") }) else {
            return  // no IPv6 on this host: nothing to prove
        }
        #expect(server.boundAddress == "[::1]:\(server.port)")
        let thread = Thread { server.run() }
        thread.start()
        defer { server.stop() }
        let response = try RawHTTP.exchange(port: server.port, "GET / HTTP/1.1\r\n\r\n", ipv6: true)
        #expect(response.hasSuffix("six\n"))
    }
}

/// A minimal HTTP client over a raw socket, to send exactly the bytes a test wants.
enum RawHTTP {
    struct Failure: Error { let what: String }

    static func connect(port: UInt16, ipv6: Bool = false) throws -> Int32 {
        let descriptor = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(what: "socket") }
        let result: Int32
        if ipv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            address.sin6_addr = in6addr_loopback
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard result == 0 else {
            close(descriptor)
            throw Failure(what: "connect: \(String(cString: strerror(errno)))")
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return descriptor
    }

    /// Sends `request` and reads the whole response (the server closes the connection).
    static func exchange(port: UInt16, _ request: String, ipv6: Bool = false) throws -> String {
        let descriptor = try connect(port: port, ipv6: ipv6)
        defer { close(descriptor) }
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            response += chunk[0..<count]
        }
        return String(decoding: response, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser

/// Before the CLI waits for a broker or gateway: whether anything listens at a `tcp://host:port` endpoint, so that
/// "nothing listens" is said at once instead of after a connect timeout. Other transports (ipc, names that need
/// DNS) are not probed.
enum EndpointProbe {
    /// Throws a specific error when a TCP connection to a numeric IPv4 `tcp://` endpoint is refused.
    static func requireListener(at endpoint: String, what: String) throws {
        guard endpoint.hasPrefix("tcp://"), let colon = endpoint.lastIndex(of: ":") else { return }
        let host = String(endpoint.dropFirst("tcp://".count)[..<colon])
        guard let port = UInt16(endpoint[endpoint.index(after: colon)...]) else { return }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var refused = result != 0 && errno == ECONNREFUSED
        if result != 0, errno == EINPROGRESS {
            // At most half a second: a host that drops packets is not judged here (libzmq keeps trying).
            var waiting = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            if poll(&waiting, 1, 500) == 1, getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length) == 0 {
                refused = failure == ECONNREFUSED
            }
        }
        if refused {
            print("nothing listens at \(endpoint) (connection refused): is the \(what) running, and is this its endpoint?")
            throw ExitCode.failure
        }
    }
}

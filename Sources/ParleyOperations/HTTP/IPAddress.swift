#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address to listen on, parsed with `inet_pton`.
struct IPAddress: Sendable, CustomStringConvertible {
    enum Family: Sendable { case v4(in_addr), v6(in6_addr) }

    let family: Family
    /// As written.
    let text: String

    init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            family = .v4(v4)
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            family = .v6(v6)
        } else {
            return nil
        }
        self.text = text
    }

    /// `127.0.0.1` or `[::1]`, ready to take a `:port`.
    var description: String {
        if case .v6 = family { return "[\(text)]" }
        return text
    }
}

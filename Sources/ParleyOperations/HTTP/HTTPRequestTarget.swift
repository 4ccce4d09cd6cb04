/// A request's path and query, split from its request target (`/api/events?agent=planner`).
public struct HTTPRequestTarget: Sendable, Equatable {
    /// The path, percent-encoding left as sent (`/api/agents`).
    public var path: String
    /// The query's parameters in order, percent-decoded (`+` is a space); empty without a query.
    public var query: [(name: String, value: String)]

    /// Splits `uri` at its first `?`; returns nil for a query that is not `name=value` pairs joined by `&` or that
    /// holds a bad percent-escape.
    public init?(_ uri: String) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        path = String(parts[0])
        query = []
        guard parts.count == 2, !parts[1].isEmpty else { return }
        for pair in parts[1].split(separator: "&", omittingEmptySubsequences: true) {
            let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard halves.count == 2, let name = Self.decode(halves[0]), !name.isEmpty, let value = Self.decode(halves[1]) else { return nil }
            query.append((name, value))
        }
    }

    /// The value of the parameter `name`, if given.
    public func parameter(_ name: String) -> String? {
        query.first { $0.name == name }?.value
    }

    /// The names of given parameters that are not in `known`, in order.
    public func unknownParameters(_ known: Set<String>) -> [String] {
        query.map(\.name).filter { !known.contains($0) }
    }

    public static func == (lhs: HTTPRequestTarget, rhs: HTTPRequestTarget) -> Bool {
        lhs.path == rhs.path && lhs.query.elementsEqual(rhs.query) { $0 == $1 }
    }

    private static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// A rate limit: at most `count` requests per `perMilliseconds`, written `100/s`, `10/min`, `5/h`,
/// `20/100ms` or `1/2s` in a policy file.
///
/// A rate is enforced as a token bucket (see ``RateLimiter``): a caller may burst up to `count` requests,
/// and regains one request every `perMilliseconds / count` milliseconds.
public struct Rate: Sendable, Hashable, CustomStringConvertible {
    /// Requests allowed per period (at least 1).
    public var count: Int
    /// The period, in milliseconds (at least 1).
    public var perMilliseconds: UInt64

    /// A rate of `count` requests per `perMilliseconds` milliseconds; both must be at least 1.
    public init(count: Int, perMilliseconds: UInt64) {
        precondition(count >= 1, "a rate allows at least one request")
        precondition(perMilliseconds >= 1, "a rate's period is at least one millisecond")
        self.count = count
        self.perMilliseconds = perMilliseconds
    }

    /// Parses `<count>/<period>`: `count` a positive integer, `period` an optional positive integer followed by
    /// a unit, `ms`, `s`, `min` or `h` (`100/s`, `10/min`, `5/h`, `20/100ms`, `1/2s`). Nil when malformed,
    /// when the count or the period is zero, or when a number overflows. No spaces are allowed.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Self.positiveInteger(parts[0]) else { return nil }
        let period = parts[1]
        let digits = period.prefix { $0.isASCII && $0.isNumber }
        let unitText = period.dropFirst(digits.count)
        let unit: UInt64
        switch unitText {
        case "ms": unit = 1
        case "s": unit = 1_000
        case "min": unit = 60_000
        case "h": unit = 3_600_000
        default: return nil
        }
        var multiple: UInt64 = 1
        if !digits.isEmpty {
            guard let value = Self.positiveInteger(digits) else { return nil }
            multiple = UInt64(value)
        }
        let (milliseconds, overflow) = multiple.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        self.init(count: count, perMilliseconds: milliseconds)
    }

    /// The canonical text: the largest unit that divides the period, the multiple omitted when it is 1
    /// (`100/s`, `10/min`, `20/100ms`, `1/2s`). Parsing it gives back an equal rate.
    public var description: String {
        for (unit, name) in [(UInt64(3_600_000), "h"), (60_000, "min"), (1_000, "s")] where perMilliseconds % unit == 0 {
            let multiple = perMilliseconds / unit
            return multiple == 1 ? "\(count)/\(name)" : "\(count)/\(multiple)\(name)"
        }
        return "\(count)/\(perMilliseconds)ms"
    }

    /// A decimal integer of ASCII digits only, at least 1, or nil.
    private static func positiveInteger(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text), value >= 1 else {
            return nil
        }
        return value
    }
}

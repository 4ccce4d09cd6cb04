/// A requester-chosen 128-bit id that correlates a request with its outcome and de-duplicates retries.
///
/// A retry reuses the id; a new request uses a fresh random one.
public struct CallbackID: Hashable, Sendable, CustomStringConvertible {
    /// The first 8 bytes, big-endian.
    public var high: UInt64
    /// The last 8 bytes, big-endian.
    public var low: UInt64

    /// The id made of two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero id, used in ERROR headers that concern no request.
    public static let none = CallbackID(high: 0, low: 0)

    /// A fresh random id.
    public static func random() -> CallbackID {
        var generator = SystemRandomNumberGenerator()
        return CallbackID(high: generator.next(), low: generator.next())
    }

    /// 32 lower-case hex digits.
    public var description: String { hex(high) + hex(low) }

    /// Parses 32 hex digits, as printed by `description`.
    public init?(hex text: String) {
        let utf8 = Array(text.utf8)
        guard utf8.count == 32, utf8.allSatisfy({ $0 < 0x80 && Character(Unicode.Scalar($0)).isHexDigit }),
              let high = UInt64(String(decoding: utf8[0..<16], as: UTF8.self), radix: 16),
              let low = UInt64(String(decoding: utf8[16..<32], as: UTF8.self), radix: 16)
        else { return nil }
        self.init(high: high, low: low)
    }
}

private func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

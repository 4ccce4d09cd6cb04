import CZeroMQ

/// Z85 (ZeroMQ RFC 32) text encoding of binary keys: 4 bytes become 5 printable characters.
/// Stateless functions over values: thread-safe.
extension Curve {
    /// Encodes `bytes` as Z85 text (`zmq_z85_encode`).
    ///
    /// A 32-byte CURVE key becomes its 40-character text form.
    ///
    /// - Returns: the text, or `nil` when `bytes.count` is not a multiple of 4.
    public static func z85Encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        if bytes.isEmpty { return "" }
        var text = [CChar](repeating: 0, count: bytes.count / 4 * 5 + 1)
        let encoded = bytes.withUnsafeBufferPointer { source in
            text.withUnsafeMutableBufferPointer { destination in
                zmq_z85_encode(destination.baseAddress, source.baseAddress, source.count) != nil
            }
        }
        guard encoded else { return nil }
        return String(decoding: text.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes Z85 `text` into bytes (`zmq_z85_decode`).
    ///
    /// A 40-character CURVE key becomes its 32 bytes.
    ///
    /// - Returns: the bytes, or `nil` when the length is not a multiple of 5, a character is outside
    ///   the Z85 alphabet, or a 5-character group encodes a value above 2³² − 1.
    public static func z85Decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 5 == 0 else { return nil }
        if characters.isEmpty { return [] }
        // Validated here rather than trusting every libzmq version's checks (alphabet and overflow).
        var index = 0
        while index < characters.count {
            var value: UInt64 = 0
            for character in characters[index ..< index + 5] {
                guard let digit = z85Digit(character) else { return nil }
                value = value * 85 + UInt64(digit)
            }
            guard value <= UInt64(UInt32.max) else { return nil }
            index += 5
        }
        var bytes = [UInt8](repeating: 0, count: characters.count / 5 * 4)
        let cString = characters.map { CChar(bitPattern: $0) } + [0]
        let decoded = cString.withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBufferPointer { destination in
                zmq_z85_decode(destination.baseAddress, source.baseAddress) != nil
            }
        }
        return decoded ? bytes : nil
    }

    /// The Z85 alphabet, in digit order.
    private static let z85Alphabet = Array(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8
    )

    /// The digit value of one Z85 character, or `nil` if it is not in the alphabet.
    private static func z85Digit(_ character: UInt8) -> Int? {
        z85Alphabet.firstIndex(of: character)
    }
}

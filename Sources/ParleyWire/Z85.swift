/// Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 4 bytes become 5 printable characters, so a 32-byte key is
/// 40 characters. The one Z85 codec of the code base (keys files, ZAP, the CLI's key files). Pure and thread-safe.
public enum Z85 {
    /// The 85 characters, in digit order.
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Digit value per ASCII byte, or nil for bytes outside the alphabet.
    private static let digits: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 128)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// `bytes` as Z85 text, or nil when their count is not a multiple of 4.
    public static func encode(_ bytes: [UInt8]) -> String? {
        guard bytes.count % 4 == 0 else { return nil }
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count / 4 * 5)
        for start in stride(from: 0, to: bytes.count, by: 4) {
            var value = bytes[start..<(start + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            var group = [UInt8](repeating: 0, count: 5)
            for index in (0..<5).reversed() {
                group[index] = alphabet[Int(value % 85)]
                value /= 85
            }
            text += group
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The bytes of Z85 `text`, or nil when its length is not a multiple of 5, a character is outside the alphabet,
    /// or a 5-character group encodes more than 32 bits.
    public static func decode(_ text: String) -> [UInt8]? {
        let characters = Array(text.utf8)
        guard characters.count % 5 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(characters.count / 5 * 4)
        for start in stride(from: 0, to: characters.count, by: 5) {
            var value: UInt64 = 0
            for character in characters[start..<(start + 5)] {
                guard character < 128, let digit = digits[Int(character)] else { return nil }
                value = value * 85 + UInt64(digit)
            }
            guard value <= UInt64(UInt32.max) else { return nil }
            bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        return bytes
    }

    /// Why `key` is not a 40-character Z85 CURVE key, in words for a configuration error, or nil.
    public static func keyProblem(_ key: String) -> String? {
        let bytes = Array(key.utf8)
        guard bytes.count == 40 else {
            return "a CURVE public key is 40 Z85 characters; this one has \(key.count)"
        }
        var group: UInt64 = 0
        for (index, byte) in bytes.enumerated() {
            guard byte < 128, let digit = digits[Int(byte)] else {
                return "a CURVE public key is Z85; '\(Unicode.Scalar(byte))' at position \(index + 1) is not a Z85 character"
            }
            group = group * 85 + UInt64(digit)
            if index % 5 == 4 {
                guard group <= UInt64(UInt32.max) else {
                    return "'\(key)' is not valid Z85: characters \(index - 3)–\(index + 1) encode more than 32 bits"
                }
                group = 0
            }
        }
        return nil
    }
}

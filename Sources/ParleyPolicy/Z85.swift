/// Checks the text form of CURVE keys: Z85 (ZeroMQ RFC 32), 40 characters for 32 bytes.
enum Z85 {
    /// The 85 characters, in digit order.
    static let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8)

    /// Digit value per ASCII byte, or nil for bytes outside the alphabet.
    private static let digits: [UInt8?] = {
        var table = [UInt8?](repeating: nil, count: 128)
        for (value, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(value) }
        return table
    }()

    /// Why `key` is not a 40-character Z85 key, or nil.
    static func keyProblem(_ key: String) -> String? {
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

/// Why a header frame could not be decoded. The description is the text sent back in BAD_REQUEST.
public enum DecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Fewer than the 3 bytes every header starts with.
    case tooShort(Int)
    /// The first byte is not `P` (0x50).
    case badSignature(UInt8)
    /// A protocol version this broker does not speak.
    case unsupportedVersion(UInt8)
    /// A command code that is not defined (or not valid in this direction).
    case unknownCommand(UInt8)
    /// The header ends inside the named field.
    case truncated(field: String)
    /// Bytes left over after the last field.
    case trailingBytes(Int)
    /// A field holds a value outside its range or rules.
    case invalidField(field: String, problem: String)

    public var description: String {
        switch self {
        case .tooShort(let count): "header too short: \(count) bytes, at least 3 needed"
        case .badSignature(let byte): "not a Parley header: first byte 0x\(String(byte, radix: 16)), expected 0x50 ('P')"
        case .unsupportedVersion(let version): "unsupported protocol version \(version); this broker speaks \(protocolVersion)"
        case .unknownCommand(let code): "unknown command 0x\(String(code, radix: 16))"
        case .truncated(let field): "header truncated in field '\(field)'"
        case .trailingBytes(let count): "\(count) unexpected bytes after the last header field"
        case .invalidField(let field, let problem): "invalid \(field): \(problem)"
        }
    }
}

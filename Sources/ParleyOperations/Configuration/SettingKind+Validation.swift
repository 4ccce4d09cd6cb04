import ParleyPolicy
import NIOCore

extension SettingKind {
    /// `text` checked against the kind: the value to keep (normalised: `10_000` → `10000`, `1MiB` → `1048576`),
    /// or what is wrong with it, in words that say what would be right.
    func validate(_ text: String) -> Result<String, SettingKindMismatch> {
        switch self {
        case .text, .secret, .path, .keyOrPath:
            return text.isEmpty ? .failure(SettingKindMismatch("must not be empty")) : .success(text)
        case .endpoint:
            let schemes = ["tcp://", "ipc://", "inproc://"]
            guard let scheme = schemes.first(where: text.hasPrefix), text.count > scheme.count else {
                return .failure(SettingKindMismatch("must be a ZeroMQ endpoint such as tcp://127.0.0.1:7410, not '\(text)'"))
            }
            if scheme == "tcp://", !text.dropFirst(scheme.count).contains(":") {
                return .failure(SettingKindMismatch("a tcp endpoint needs a port (tcp://host:port), not '\(text)'"))
            }
            return .success(text)
        case .integer(let range):
            guard let value = Self.wholeNumber(text), range.contains(value) else {
                return .failure(SettingKindMismatch("must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(text)'"))
            }
            return .success(String(value))
        case .bytes(let range):
            let compact = text.filter { $0 != "_" }
            guard let bytes = ByteSize.parse(compact), range.contains(Int64(bytes)) else {
                return .failure(SettingKindMismatch("must be a byte count from \(ByteSize.format(Int(range.lowerBound))) to "
                    + "\(ByteSize.format(Int(range.upperBound))) (a number, optionally with B, KB, MB, GB, KiB, MiB or GiB), not '\(text)'"))
            }
            return .success(String(bytes))
        case .choice(let words):
            guard words.contains(text) else {
                return .failure(SettingKindMismatch("must be one of \(words.joined(separator: ", ")), not '\(text)'"))
            }
            return .success(text)
        case .address:
            guard (try? SocketAddress(ipAddress: text, port: 0)) != nil else {
                return .failure(SettingKindMismatch("must be an IP address to listen on (127.0.0.1, 0.0.0.0, ::1, ::), not '\(text)'"))
            }
            return .success(text)
        case .boolean:
            switch text.lowercased() {
            case "true", "yes", "on": return .success("true")
            case "false", "no", "off": return .success("false")
            default: return .failure(SettingKindMismatch("must be true or false, not '\(text)'"))
            }
        }
    }

    /// Whether a value of this kind that came from a config file names a file relative to the config file's folder.
    func isRelativePath(_ value: String) -> Bool {
        switch self {
        case .path: value != "-" && !value.hasPrefix("/")
        case .keyOrPath: value.count != 40 && !value.hasPrefix("/")
        default: false
        }
    }

    /// A non-negative or negative decimal integer with optional `_` between digits; nil otherwise.
    static func wholeNumber(_ text: String) -> Int64? {
        var digits = Substring(text)
        let negative = digits.first == "-"
        if negative { digits = digits.dropFirst() }
        guard let first = digits.first, first.isASCII, first.isNumber, digits.last?.isNumber == true,
              !digits.contains("__"), digits.allSatisfy({ ($0.isASCII && $0.isNumber) || $0 == "_" }) else { return nil }
        guard let magnitude = Int64(String(digits.filter { $0 != "_" })) else { return nil }
        return negative ? -magnitude : magnitude
    }

    /// How the kind reads in a listing: `whole number 10…3600000`, `bytes`, `one of text, json`.
    var summary: String {
        switch self {
        case .text: "text"
        case .secret: "text (secret)"
        case .endpoint: "ZeroMQ endpoint"
        case .path: "file path"
        case .integer(let range): "whole number \(range.lowerBound)…\(range.upperBound)"
        case .bytes: "bytes (B, KB, MB, GB, KiB, MiB, GiB)"
        case .choice(let words): "one of \(words.joined(separator: ", "))"
        case .address: "IP address"
        case .boolean: "true or false"
        case .keyOrPath: "Z85 key or file path"
        }
    }
}

/// Why a value does not fit its setting's kind.
struct SettingKindMismatch: Error {
    let problem: String
    init(_ problem: String) { self.problem = problem }
}

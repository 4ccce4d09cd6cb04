#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads configuration files (policy, keys, and the processes' config files): whole, as UTF-8, refusing anything
/// unreadable with a ``ConfigurationError``. The one reader of configuration text in the code base.
package enum ConfigurationFile {
    /// Larger files are refused: a configuration file is a few kilobytes.
    static let maxBytes = 16 << 20

    /// The text of the file at `path`; a line-0 error ("cannot read `what`: reason") when it cannot be read, line N
    /// when a byte of line N is not UTF-8.
    package static func readText(path: String, describedAs what: String = "the file") throws(ConfigurationError) -> String {
        let bytes = try readBytes(path: path, describedAs: what)
        return try decode(bytes, source: path)
    }

    /// `bytes` as a string, or an error naming the line of the first byte that is not UTF-8.
    static func decode(_ bytes: [UInt8], source: String) throws(ConfigurationError) -> String {
        var text = String.UnicodeScalarView()
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var line = 1
        decoding: while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar):
                if scalar == "\n" { line += 1 }
                text.append(scalar)
            case .emptyInput:
                break decoding
            case .error:
                throw ConfigurationError(file: source, line: line, problem: "the file is not valid UTF-8 text")
            }
        }
        return String(text)
    }

    private static func readBytes(path: String, describedAs what: String) throws(ConfigurationError) -> [UInt8] {
        func failure(_ reason: String) -> ConfigurationError {
            ConfigurationError(file: path, line: 0, problem: "cannot read \(what): \(reason)")
        }
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { throw failure(String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw failure(String(cString: strerror(errno)))
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maxBytes { throw failure("larger than \(ByteSize.format(maxBytes))") }
        }
    }
}

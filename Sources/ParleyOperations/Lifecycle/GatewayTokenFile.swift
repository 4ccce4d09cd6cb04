import Foundation

/// Development mode's gateway token, handed from a broker to the gateway started beside it as the same user.
///
/// A broker without CURVE keys and without a configured `gateway-token` makes a random token at each start and
/// writes it to `<directory>/<endpoint>.gateway-token` (mode 0600), where `<directory>` is
/// `$XDG_RUNTIME_DIR/parley` or else `/tmp/parley-<uid>` (mode 0700, owned by the user, refused otherwise) and
/// `<endpoint>` is the bound endpoint with every character other than `A-Z a-z 0-9 .` replaced by `_`. A gateway
/// without a configured token reads the file named after its `broker` endpoint each time it registers, so it
/// follows a restarted broker's new token.
public struct GatewayTokenFile: Sendable {
    /// The file's path.
    public let path: String

    /// The token file of the broker bound to `endpoint` (as the broker prints it, e.g. `tcp://127.0.0.1:7410`).
    /// `localhost` in the endpoint is read as 127.0.0.1.
    public init(brokerEndpoint endpoint: String) {
        let normalized = endpoint.replacingOccurrences(of: "//localhost:", with: "//127.0.0.1:")
        let name = String(normalized.unicodeScalars.map { scalar -> Character in
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9", ".": Character(scalar)
            default: "_"
            }
        })
        path = Self.directory + "/" + name + ".gateway-token"
    }

    /// A new random token: 32 hexadecimal digits (128 bits).
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// Writes `token` (replacing an earlier file at once), creating the private directory when needed.
    ///
    /// - Throws: ``GatewayTokenFileError`` when the directory is not the user's own private one or writing fails.
    public func write(_ token: String) throws(GatewayTokenFileError) {
        try Self.preparePrivateDirectory()
        let temporary = path + ".\(getpid()).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw GatewayTokenFileError(path: temporary, problem: String(cString: strerror(errno))) }
        let bytes = Array((token + "\n").utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            let problem = String(cString: strerror(errno))
            unlink(temporary)
            throw GatewayTokenFileError(path: path, problem: problem)
        }
    }

    /// The token in the file, or nil when there is none (or the file is not the user's private one).
    public func read() -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_uid == getuid(), status.st_mode & 0o077 == 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let token = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return token.isEmpty ? nil : token
    }

    /// Removes the file if it still holds `token` (a newer broker on the same endpoint may have replaced it).
    public func remove(ifHolding token: String) {
        if read() == token { unlink(path) }
    }

    /// `$XDG_RUNTIME_DIR/parley`, or `/tmp/parley-<uid>`.
    static var directory: String {
        if let runtime = ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/parley" }
        return "/tmp/parley-\(getuid())"
    }

    /// Creates the directory (0700) or checks that the existing one is a directory the user owns that nobody else
    /// may enter, so that no other user can plant or read a token.
    private static func preparePrivateDirectory() throws(GatewayTokenFileError) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw GatewayTokenFileError(path: directory, problem: String(cString: strerror(errno)))
        }
        var status = stat()
        guard lstat(directory, &status) == 0 else {
            throw GatewayTokenFileError(path: directory, problem: String(cString: strerror(errno)))
        }
        guard status.st_mode & S_IFMT == S_IFDIR, status.st_uid == getuid(), status.st_mode & 0o077 == 0 else {
            throw GatewayTokenFileError(path: directory, problem: "not a private directory of this user (want mode 0700, owner uid \(getuid()))")
        }
    }
}

/// Why the gateway token file could not be written.
public struct GatewayTokenFileError: Error, CustomStringConvertible {
    /// The file or directory concerned.
    public let path: String
    /// What went wrong.
    public let problem: String

    public var description: String { "cannot write the development gateway token to \(path): \(problem)" }
}

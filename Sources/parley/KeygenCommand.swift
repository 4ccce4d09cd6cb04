import ArgumentParser
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ZeroMQ

/// `parley keygen`: makes a CURVE key pair, printed or written to a pair of files.
struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Make a CURVE key pair.",
        discussion: """
            Without --out, prints the public and secret keys (40 Z85 characters each). With --out PREFIX, \
            writes the secret key to PREFIX.key (mode 0600) and the public key to PREFIX.pub instead, one key \
            and a newline per file; it never overwrites an existing file (exit 1), and it refuses to write into a \
            git work tree (where `git add` would take the secret key) unless given --allow-in-repository.
            """
    )

    @Option(name: .customLong("out"), help: ArgumentHelp("Write PREFIX.key (secret) and PREFIX.pub (public).", valueName: "PREFIX"))
    var prefix: String?

    @Flag(help: "Write the key files even inside a git work tree.")
    var allowInRepository = false

    func validate() throws {
        if let prefix, prefix.isEmpty { throw ValidationError("--out needs a non-empty PREFIX.") }
    }

    func run() async throws {
        let keys: (publicKey: String, secretKey: String)
        do {
            keys = try Curve.generateKeyPair()
        } catch {
            printError("parley keygen: cannot make a CURVE key pair: \(error)")
            throw ExitCode.failure
        }
        guard let prefix else {
            print("public: \(keys.publicKey)")
            print("secret: \(keys.secretKey)")
            return
        }

        let secretPath = prefix + ".key"
        let publicPath = prefix + ".pub"
        if !allowInRepository, let workTree = GitWorkTree.enclosing(secretPath) {
            printError("parley keygen: \(secretPath) would be inside the git work tree \(workTree), where a secret key can be "
                       + "committed by accident; write it outside (e.g. --out ~/.config/parley/NAME) "
                       + "or pass --allow-in-repository.")
            throw ExitCode.failure
        }
        for path in [secretPath, publicPath] where fileExists(path) {
            printError("parley keygen: \(path) already exists; not overwriting it (choose another --out prefix).")
            throw ExitCode.failure
        }
        do {
            try writeNewFile(secretPath, contents: keys.secretKey + "\n", mode: 0o600)
        } catch {
            printError("parley keygen: cannot write \(secretPath): \(error)")
            throw ExitCode.failure
        }
        do {
            try writeNewFile(publicPath, contents: keys.publicKey + "\n", mode: 0o644)
        } catch {
            unlink(secretPath) // don't leave half a key pair behind
            printError("parley keygen: cannot write \(publicPath): \(error)")
            throw ExitCode.failure
        }
        print("wrote \(secretPath) (secret, mode 0600) and \(publicPath) (public)")
    }
}

/// A failed file operation: the path's `errno`, described by `strerror`.
private struct FileError: Error, CustomStringConvertible {
    let code: Int32
    var description: String {
        code == EEXIST ? "it already exists; not overwriting it" : String(cString: strerror(code))
    }
}

/// Whether anything (even a dangling symlink) is at `path`.
private func fileExists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

/// Creates `path` (refusing to replace anything there: `O_EXCL`, no symlink following) with exactly
/// `mode`, whatever the umask, and writes `contents`.
private func writeNewFile(_ path: String, contents: String, mode: mode_t) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
    guard descriptor >= 0 else { throw FileError(code: errno) }
    defer { close(descriptor) }
    guard fchmod(descriptor, mode) == 0 else {
        let code = errno
        unlink(path)
        throw FileError(code: code)
    }
    var bytes = Array(contents.utf8)[...]
    while !bytes.isEmpty {
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        if written < 0 {
            if errno == EINTR { continue }
            let code = errno
            unlink(path)
            throw FileError(code: code)
        }
        bytes = bytes.dropFirst(written)
    }
    guard fsync(descriptor) == 0 else {
        let code = errno
        unlink(path)
        throw FileError(code: code)
    }
}

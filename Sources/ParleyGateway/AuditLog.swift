#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The audit trail: JSON lines appended to a file (or written to standard output for "-"). Thread-safe; the
/// gateway's reactor thread is its one writer.
public final class AuditLog: Sendable {
    /// The file, or "-" for standard output.
    public let path: String
    private let state: Mutex<State>

    private struct State {
        var descriptor: Int32
        /// A write failed: the next append opens the file again first (a repaired or replaced file takes effect).
        var failed = false
        /// A failed write may have left part of a line: the next write starts with a newline.
        var lineOpen = false
    }

    /// Opens `path` for appending (created with mode 0640), or standard output for "-".
    public init(path: String) throws(AuditLogError) {
        self.path = path
        state = Mutex(State(descriptor: try Self.open(path)))
    }

    /// Appends the records, one line each, in one write. After a failed write, opens the file again first.
    /// Throws when the records could not all be written (then part of the last line may be in the file).
    public func append(_ records: [AuditRecord]) throws(AuditLogError) {
        guard !records.isEmpty else { return }
        try state.withLock { state throws(AuditLogError) in
            if state.failed, path != "-" {
                let descriptor = try Self.open(path)
                close(state.descriptor)
                state.descriptor = descriptor
            }
            var buffer: [UInt8] = state.lineOpen ? [UInt8(ascii: "\n")] : []
            for record in records {
                buffer.append(contentsOf: record.jsonLine.utf8)
                buffer.append(UInt8(ascii: "\n"))
            }
            var offset = 0
            while offset < buffer.count {
                let written = buffer.withUnsafeBytes { write(state.descriptor, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    state.failed = true
                    state.lineOpen = state.lineOpen || offset > 0
                    throw AuditLogError(path: path, operation: "write to", errno: errno)
                }
                offset += written
            }
            state.failed = false
            state.lineOpen = false
        }
    }

    private static func open(_ path: String) throws(AuditLogError) -> Int32 {
        if path == "-" { return 1 }
        let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw AuditLogError(path: path, operation: "open", errno: errno) }
        return descriptor
    }

    deinit { state.withLock { if path != "-" { close($0.descriptor) } } }
}

/// The audit log could not be opened or written.
public struct AuditLogError: Error, CustomStringConvertible {
    public let path: String
    /// "open" or "write to".
    public let operation: String
    public let errno: Int32
    public var description: String { "cannot \(operation) the audit log \(path): \(String(cString: strerror(errno)))" }
}

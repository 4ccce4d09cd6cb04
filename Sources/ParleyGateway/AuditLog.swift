#if canImport(Glibc)
import Glibc
#endif
import ParleyWire

/// The audit trail: JSON lines appended to a file (or written to standard output for "-"). Owned by the gateway's
/// reactor thread, which hands it each batch of records: they are encoded into one buffer and written with one
/// `write(2)` (more only when the kernel takes part of it). No `fsync`: a written record survives the gateway's
/// crash, not the machine's.
final class AuditLog {
    /// The file, or "-" for standard output.
    let path: String
    private var descriptor: Int32
    /// A write failed: the next append opens the file again first (a repaired or replaced file takes effect).
    private var failed = false
    /// A failed write may have left part of a line: the next write starts with a newline.
    private var lineOpen = false
    /// The batch being written; kept for its capacity.
    private var json = JSONWriter()

    /// Opens `path` for appending (created with mode 0640), or standard output for "-".
    init(path: String) throws(AuditLogError) {
        self.path = path
        descriptor = try Self.open(path)
    }

    /// Appends the records, one line each, in one write. After a failed write, opens the file again first.
    /// Throws when the records could not all be written (then part of the last line may be in the file).
    func append(_ records: [AuditRecord]) throws(AuditLogError) {
        guard !records.isEmpty else { return }
        if failed, path != "-" {
            let reopened = try Self.open(path)
            close(descriptor)
            descriptor = reopened
        }
        Self.encode(records, afterPartialLine: lineOpen, into: &json)
        let descriptor = descriptor
        let partial: (errno: Int32, midway: Bool)? = json.withBytes { batch in
            var offset = 0
            while offset < batch.count {
                let written = write(descriptor, batch.baseAddress! + offset, batch.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return (errno, offset > 0)
                }
                offset += written
            }
            return nil
        }
        if let (error, midway) = partial {
            failed = true
            lineOpen = lineOpen || midway
            throw AuditLogError(path: path, operation: "write to", errno: error)
        }
        failed = false
        lineOpen = false
    }

    /// The records as JSON lines, after a newline that ends a partial line.
    private static func encode(_ records: [AuditRecord], afterPartialLine: Bool, into json: inout JSONWriter) {
        json.removeAll()
        if afterPartialLine { json.endLine() }
        records.withUnsafeBufferPointer { records in
            for index in records.indices {
                records[index].write(to: &json)
                json.endLine()
            }
        }
    }

    /// Non-blocking, so that a named pipe never stalls the reactor: opening one that has no reader fails (ENXIO)
    /// instead of waiting for one, and a write to a full one fails (EAGAIN) instead of waiting; a regular file is
    /// not affected.
    private static func open(_ path: String) throws(AuditLogError) -> Int32 {
        if path == "-" { return 1 }
        let descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0o640)
        guard descriptor >= 0 else { throw AuditLogError(path: path, operation: "open", errno: errno) }
        return descriptor
    }

    deinit { if path != "-" { close(descriptor) } }
}

/// The audit log could not be opened or written.
public struct AuditLogError: Error, CustomStringConvertible {
    public let path: String
    /// "open" or "write to".
    public let operation: String
    public let errno: Int32
    public var description: String { "cannot \(operation) the audit log \(path): \(String(cString: strerror(errno)))" }
}

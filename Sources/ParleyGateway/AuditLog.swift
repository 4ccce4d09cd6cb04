#if canImport(Glibc)
import Glibc
#endif

/// The audit trail: JSON lines appended to a file (or written to standard output for "-").
/// Owned by the gateway's reactor thread.
public final class AuditLog {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private var buffer: [UInt8] = []

    /// Opens `path` for appending (created with mode 0640), or standard output for "-".
    public init(path: String) throws {
        if path == "-" {
            descriptor = 1
            ownsDescriptor = false
        } else {
            descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard descriptor >= 0 else { throw AuditLogError(path: path, errno: errno) }
            ownsDescriptor = true
        }
    }

    /// Appends the records, one line each, in one write.
    public func append(_ records: [AuditRecord]) {
        guard !records.isEmpty else { return }
        buffer.removeAll(keepingCapacity: true)
        for record in records {
            buffer.append(contentsOf: record.jsonLine.utf8)
            buffer.append(UInt8(ascii: "\n"))
        }
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }

    deinit { if ownsDescriptor { close(descriptor) } }
}

/// The audit log could not be opened.
public struct AuditLogError: Error, CustomStringConvertible {
    public let path: String
    public let errno: Int32
    public var description: String { "cannot open the audit log \(path): \(String(cString: strerror(errno)))" }
}

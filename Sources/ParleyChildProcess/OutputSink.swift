#if canImport(Glibc)
import Glibc
#endif
import Subprocess

/// Where the chunks read from one output stream of a child go (``ChildProcess/Destination``).
struct OutputSink: Sendable {
    private let keep: (@Sendable (String) -> Void)?
    /// The descriptor written to, for `.inherit` and `.file`; -1 otherwise.
    private let descriptor: Int32
    private let ownsDescriptor: Bool

    init(_ destination: ChildProcess.Destination, standardStream: Int32, keep: @escaping @Sendable (String) -> Void) throws {
        switch destination {
        case .keep: (self.keep, descriptor, ownsDescriptor) = (keep, -1, false)
        case .inherit: (self.keep, descriptor, ownsDescriptor) = (nil, standardStream, false)
        case .discard: (self.keep, descriptor, ownsDescriptor) = (nil, -1, false)
        case .descriptor(let given): (self.keep, descriptor, ownsDescriptor) = (nil, given, true)
        case .file(let path):
            let opened = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            guard opened >= 0 else { throw ChildProcessError("cannot open \(path): \(String(cString: strerror(errno)))") }
            (self.keep, descriptor, ownsDescriptor) = (nil, opened, true)
        }
    }

    /// Reads `stream` to its end (the child closed it, or exited), passing each chunk on.
    func drain(_ stream: SubprocessOutputSequence) async throws {
        for try await chunk in stream {
            chunk.withUnsafeBytes { bytes in
                if let keep { keep(String(decoding: bytes, as: UTF8.self)) }
                var offset = 0
                while descriptor >= 0, offset < bytes.count {
                    let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                    if written < 0, errno == EINTR { continue }
                    guard written > 0 else { break }
                    offset += written
                }
            }
        }
    }

    /// Closes the file or descriptor it wrote to, if it owns one.
    func close() {
        if ownsDescriptor { _ = Glibc.close(descriptor) }
    }
}

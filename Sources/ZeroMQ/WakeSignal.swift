import CZeroMQ
#if canImport(Glibc)
import Glibc
#endif

/// A file descriptor other threads can make readable to wake a reactor blocked in `Poller.poll`
/// (an eventfd on Linux). `signal()` is thread-safe; `drain()` belongs to the reactor thread.
public final class WakeSignal: Sendable {
    /// The descriptor to add to a `Poller`.
    public let fileDescriptor: Int32

    /// A new, non-blocking eventfd.
    public init() throws {
        let descriptor = parley_eventfd()
        guard descriptor >= 0 else { throw ZMQError(rawValue: errno) }
        fileDescriptor = descriptor
    }

    /// Makes the descriptor readable until the next `drain()`. Safe from any thread.
    public func signal() {
        var one: UInt64 = 1
        _ = withUnsafeBytes(of: &one) { write(fileDescriptor, $0.baseAddress, 8) }
    }

    /// Resets the descriptor to not readable.
    public func drain() {
        var value: UInt64 = 0
        _ = withUnsafeMutableBytes(of: &value) { read(fileDescriptor, $0.baseAddress, 8) }
    }

    deinit { close(fileDescriptor) }
}

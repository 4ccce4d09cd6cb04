#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import CZeroMQ

/// An owned ZeroMQ message frame (`zmq_msg_t`).
///
/// The `zmq_msg_t` lives in its own heap allocation that never moves and is never copied by
/// value, as libzmq requires. Creating a `Message` costs that one allocation (plus libzmq's own
/// buffer for frames larger than 33 bytes); reuse messages with ``Socket/receive(into:dontWait:)``
/// and ``rebuild()`` on hot paths.
///
/// Thread safety: a `Message` is **not** thread-safe. It is `Sendable` only so that ownership can
/// be handed to another thread: after sending it across, the sender must not touch it again.
///
/// After a successful ``Socket/send(_:more:dontWait:)`` the message is empty (libzmq moved its
/// content into the socket) and can be refilled or reused for receiving.
public final class Message: @unchecked Sendable {
    /// The heap-allocated `zmq_msg_t`. Always initialised while the message is alive.
    @usableFromInline
    internal let pointer: UnsafeMutablePointer<zmq_msg_t>

    /// Creates an empty (zero-length) message.
    public init() {
        pointer = .allocate(capacity: 1)
        zmq_msg_init(pointer)
    }

    /// Creates a message of `count` uninitialised bytes, to be filled with ``withUnsafeMutableBytes(_:)``.
    ///
    /// Traps if libzmq cannot allocate the buffer (`ENOMEM`).
    public init(count: Int) {
        precondition(count >= 0, "Message count must not be negative")
        pointer = .allocate(capacity: 1)
        guard zmq_msg_init_size(pointer, count) == 0 else {
            let error = ZMQError.last
            pointer.deallocate()
            fatalError("zmq_msg_init_size(\(count)) failed: \(error)")
        }
    }

    /// Creates a message holding a copy of `bytes`.
    public init(bytes: UnsafeRawBufferPointer) {
        pointer = .allocate(capacity: 1)
        guard zmq_msg_init_size(pointer, bytes.count) == 0 else {
            let error = ZMQError.last
            pointer.deallocate()
            fatalError("zmq_msg_init_size(\(bytes.count)) failed: \(error)")
        }
        if let source = bytes.baseAddress, bytes.count > 0 {
            zmq_msg_data(pointer).copyMemory(from: source, byteCount: bytes.count)
        }
    }

    /// Creates a message holding a copy of `bytes`.
    public convenience init(_ bytes: [UInt8]) {
        self.init(count: bytes.count)
        bytes.withUnsafeBytes { source in
            if let base = source.baseAddress, source.count > 0 {
                zmq_msg_data(pointer).copyMemory(from: base, byteCount: source.count)
            }
        }
    }

    /// Creates a message holding the UTF-8 bytes of `string` (no terminating NUL).
    public convenience init(_ string: String) {
        var string = string
        let count = string.utf8.count
        self.init(count: count)
        string.withUTF8 { source in
            if let base = source.baseAddress, count > 0 {
                zmq_msg_data(pointer).copyMemory(from: base, byteCount: count)
            }
        }
    }

    /// Closes the `zmq_msg_t` (releasing or unreferencing its buffer) and frees its storage.
    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }

    /// The size of the frame in bytes (`zmq_msg_size`).
    @inlinable
    public var count: Int {
        zmq_msg_size(pointer)
    }

    /// Calls `body` with the frame's bytes, without copying.
    ///
    /// The buffer is only valid inside `body`, and only while the message is not sent,
    /// received into, moved or rebuilt.
    @inlinable
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: zmq_msg_size(pointer)))
    }

    /// Calls `body` with the frame's bytes for writing, without copying.
    ///
    /// Do not write to a message whose buffer is shared (see ``share()``): the other sharer would
    /// see the change. The buffer is only valid inside `body`.
    @inlinable
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeMutableRawBufferPointer(start: zmq_msg_data(pointer), count: zmq_msg_size(pointer)))
    }

    /// A copy of the frame's bytes. Allocates: meant for tests and non-hot paths.
    public var bytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// The frame decoded as UTF-8 (invalid sequences are replaced). Allocates: meant for tests and non-hot paths.
    public var string: String {
        withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether more frames of the same multipart message follow this received frame (`zmq_msg_more`).
    public var hasMore: Bool {
        zmq_msg_more(pointer) != 0
    }

    /// A metadata property of a received frame (`zmq_msg_gets`), e.g. `"Peer-Address"`,
    /// `"Socket-Type"`, `"Routing-Id"` or, with a ZAP handler, `"User-Id"`.
    ///
    /// Returns `nil` when the property is absent (or the frame was not received from a socket).
    public func property(_ name: String) -> String? {
        guard let value = zmq_msg_gets(pointer, name) else { return nil }
        return String(cString: value)
    }

    /// Moves the content of `other` into this message (`zmq_msg_move`), releasing this message's
    /// previous content. `other` becomes empty. Moving a message into itself does nothing.
    public func move(from other: Message) {
        guard other !== self else { return }
        zmq_msg_move(pointer, other.pointer)
    }

    /// Makes this message share `other`'s content (`zmq_msg_copy`), releasing its own: a reusable frame to send
    /// a message that must be kept, without allocating a ``Message`` for it.
    public func copy(from other: Message) {
        guard other !== self else { return }
        zmq_msg_copy(pointer, other.pointer)
    }

    /// Returns a new message sharing this one's content (`zmq_msg_copy`).
    ///
    /// Large frames share one reference-counted buffer (no byte copy); small frames are copied.
    /// Both messages can then be sent independently. Do not mutate either one's bytes afterwards.
    public func share() -> Message {
        let copy = Message()
        zmq_msg_copy(copy.pointer, pointer)
        return copy
    }

    /// Whether both frames have the same size and bytes (`memcmp`).
    public func contentEquals(_ other: Message) -> Bool {
        let size = count
        guard size == other.count else { return false }
        if size == 0 || other === self { return true }
        return memcmp(zmq_msg_data(pointer), zmq_msg_data(other.pointer), size) == 0
    }

    /// Releases the content and makes this an empty message again (`zmq_msg_close` + `zmq_msg_init`),
    /// for reuse without a new allocation.
    public func rebuild() {
        zmq_msg_close(pointer)
        zmq_msg_init(pointer)
    }
}

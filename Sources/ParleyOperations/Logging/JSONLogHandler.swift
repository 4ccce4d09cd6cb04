#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ParleyStatistics
import ParleyWire
import Synchronization

/// A swift-log handler writing one JSON object per line: `time` (UTC, RFC 3339 with milliseconds), `level`,
/// `logger` (the label), `message`, then the metadata: strings as strings, `.stringConvertible` integers as JSON
/// numbers and booleans as JSON booleans, arrays and dictionaries as JSON arrays and objects.
///
/// Lifecycle lines carry an `event` field (`start`, `bind`, `agent_joined`, `shutdown`, …) so that log
/// pipelines can select them without parsing messages. Thread-safe: each line goes out in one `write`.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let label: String
    private let output: JSONLineWriter

    /// A handler for `label` writing to file descriptor `descriptor` (2: standard error).
    public init(label: String, level: Logger.Level, descriptor: Int32 = 2) {
        self.label = label
        self.logLevel = level
        self.output = JSONLineWriter.shared(descriptor)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var json = JSONWriter(capacity: 256)
        json.openObject()
        json.key(fixed: "time")
        json.timestamp(millisecondsSinceEpoch: WallClock.milliseconds())
        json.key(fixed: "level")
        json.string(event.level.rawValue)
        json.key(fixed: "logger")
        json.string(label)
        json.key(fixed: "message")
        json.string("\(event.message)")
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            json.key(["time", "level", "logger", "message"].contains(key) ? "_" + key : key)
            Self.write(value, to: &json)
        }
        json.closeObject()
        json.endLine()
        json.withBytes(output.write)
    }

    private static func write(_ value: Logger.Metadata.Value, to json: inout JSONWriter) {
        switch value {
        case .string(let text): json.string(text)
        case .stringConvertible(let convertible as Bool): json.bool(convertible)
        case .stringConvertible(let convertible as any BinaryInteger):
            if let signed = Int(exactly: convertible) { json.integer(signed) } else { json.string(convertible.description) }
        case .stringConvertible(let convertible): json.string(convertible.description)
        case .array(let items):
            json.openArray()
            for item in items { write(item, to: &json) }
            json.closeArray()
        case .dictionary(let fields):
            json.openObject()
            for (key, field) in fields.sorted(by: { $0.key < $1.key }) {
                json.key(key)
                write(field, to: &json)
            }
            json.closeObject()
        }
    }
}

/// Serialises whole lines onto one file descriptor.
final class JSONLineWriter: Sendable {
    private let descriptor: Int32
    private let lock = Mutex<Void>(())
    private static let writers = Mutex<[Int32: JSONLineWriter]>([:])

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// One writer per descriptor, so that handlers for several labels never interleave their lines.
    static func shared(_ descriptor: Int32) -> JSONLineWriter {
        writers.withLock { writers in
            if let writer = writers[descriptor] { return writer }
            let writer = JSONLineWriter(descriptor: descriptor)
            writers[descriptor] = writer
            return writer
        }
    }

    /// Writes `line` whole (several `write(2)` calls only when the kernel takes part of it).
    func write(_ line: UnsafeRawBufferPointer) {
        lock.withLock { _ in
            var offset = 0
            while offset < line.count {
                let written = writeBytes(descriptor, line.baseAddress! + offset, line.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }
}

/// `write(2)`, named apart from the methods called `write`.
private func writeBytes(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

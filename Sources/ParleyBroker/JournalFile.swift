#if canImport(Glibc)
import Glibc
#endif
import ParleyBrokerCore
import ParleyWire
import ZeroMQ

/// The journal's record format and the file operations the journal and its compaction share.
/// Records are [u32 length][u8 kind][fields], big-endian (docs/PROTOCOL.md §7.10).
enum JournalFile {
    /// The highest record kind this version writes and reads (5: a purge); later kinds are skipped when read.
    static let latestKind: UInt8 = 5

    /// Appends an event record: its EVENT header bytes (encoded through `scratch`), then the body.
    static func appendEvent(_ header: EventHeader, body: Message?, to buffer: inout [UInt8], scratch: inout [UInt8]) {
        scratch.removeAll(keepingCapacity: true)
        HeaderEncoder.encode(.event(header), into: &scratch)
        let bodyCount = body?.count ?? 0
        put(UInt32(1 + 4 + scratch.count + bodyCount), to: &buffer)
        buffer.append(1)
        put(UInt32(scratch.count), to: &buffer)
        buffer.append(contentsOf: scratch)
        body?.withUnsafeBytes { buffer.append(contentsOf: $0) }
    }

    /// Appends a topic's latest-sequence record.
    static func appendLatest(_ topic: Topic, _ latest: UInt64, to buffer: inout [UInt8]) {
        appendSequenceRecord(kind: 2, latest, name: topic.description, to: &buffer)
    }

    /// Appends an agent's topic floor record: its topics opened from now on start after `floor`.
    static func appendTopicFloor(_ floor: UInt64, of agent: String, to buffer: inout [UInt8]) {
        appendSequenceRecord(kind: 3, floor, name: agent, to: &buffer)
    }

    /// Appends a forgotten topic's record (kind 4: its latest sequence and the topic) or a purged one's (kind 5: the
    /// sequence purged through and the topic).
    static func append(_ mark: TopicMark, to buffer: inout [UInt8]) {
        switch mark {
        case .forgotten(let topic, let latest): appendSequenceRecord(kind: 4, latest, name: topic.description, to: &buffer)
        case .purged(let topic, let through): appendSequenceRecord(kind: 5, through, name: topic.description, to: &buffer)
        }
    }

    /// Kinds 2 to 5: `u64 sequence`, then a topic or agent id as UTF-8.
    private static func appendSequenceRecord(kind: UInt8, _ sequence: UInt64, name: String, to buffer: inout [UInt8]) {
        let name = Array(name.utf8)
        put(UInt32(1 + 8 + name.count), to: &buffer)
        buffer.append(kind)
        put(sequence, to: &buffer)
        buffer.append(contentsOf: name)
    }

    /// Writes all of `bytes` at the file's end (the descriptor is opened with O_APPEND).
    static func write(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw JournalError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    /// Appends the bytes `range` of `source` to `destination`, a chunk at a time.
    static func copy(_ range: Range<off_t>, of source: Int32, to destination: Int32, path: String) throws {
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var offset = range.lowerBound
        while offset < range.upperBound {
            let wanted = Int(min(off_t(chunk.count), range.upperBound - offset))
            let got = chunk.withUnsafeMutableBytes { pread(source, $0.baseAddress!, wanted, offset) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else {
                throw JournalError("cannot read \(path) at \(offset): \(got < 0 ? String(cString: strerror(errno)) : "it ends there")")
            }
            try chunk.withUnsafeBytes { try write(UnsafeRawBufferPointer(rebasing: $0[0..<got]), to: destination, path: path) }
            offset += off_t(got)
        }
    }

    static func put<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { buffer.append(contentsOf: $0) }
    }

    /// The error text of the last failed system call.
    static var lastError: String { String(cString: strerror(errno)) }
}

/// The journal could not be read or written.
struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

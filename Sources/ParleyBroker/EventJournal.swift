#if canImport(Glibc)
import Glibc
#endif
import ParleyWire
import ZeroMQ

/// The broker's append-only event log in its data directory, so that confirmed events and topic sequence
/// numbers survive a crash or restart. Owned by the reactor thread.
///
/// File `events.journal`: records of [u32 length][u8 kind][fields], big-endian. Kind 1 is an event: its
/// EVENT header bytes (as on the wire, with the sequence and timestamp) then the body. Kind 2 is a topic's
/// latest sequence (kept when compaction drops all its events, so sequences are never reused). Records are
/// written before the CONFIRMs of a reactor turn go out (group commit), and synced to disk at that point
/// when `sync` is on. A torn record at the end (a crash mid-write) is ignored at start-up.
final class EventJournal {
    private var descriptor: Int32
    private let path: String
    private let sync: Bool
    private var buffer: [UInt8] = []
    private var encoded: [UInt8] = []

    /// Opens (or creates) the journal in `directory`.
    init(directory: String, sync: Bool) throws {
        path = directory + "/events.journal"
        self.sync = sync
        descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw JournalError("cannot open \(path): \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    /// Queues an event for the next `commit`.
    func append(_ header: EventHeader, body: Message?) {
        encoded.removeAll(keepingCapacity: true)
        HeaderEncoder.encode(.event(header), into: &encoded)
        let bodyCount = body?.count ?? 0
        appendRecordHeader(kind: 1, length: 1 + 4 + encoded.count + bodyCount)
        put(UInt32(encoded.count))
        buffer.append(contentsOf: encoded)
        body?.withUnsafeBytes { buffer.append(contentsOf: $0) }
    }

    /// Queues a topic's latest sequence for the next `commit`.
    func appendLatest(_ topic: Topic, _ latest: UInt64) {
        let name = Array(topic.description.utf8)
        appendRecordHeader(kind: 2, length: 1 + 8 + name.count)
        put(latest)
        buffer.append(contentsOf: name)
    }

    /// Writes what was queued, and syncs it when `sync` is on. Throws when the disk refuses: the caller
    /// must then not confirm the events.
    func commit() throws {
        guard !buffer.isEmpty else { return }
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw JournalError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
        if sync, fdatasync(descriptor) != 0 { throw JournalError("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }

    /// Every complete record, in order: events with their bodies, and topics' latest sequences.
    func readAll() throws -> [JournalRecord] {
        var records: [JournalRecord] = []
        let bytes = try contents()
        var offset = 0
        while offset + 5 <= bytes.count {
            let length = Int(integer(bytes, offset, UInt32.self))
            guard length >= 1, offset + 4 + length <= bytes.count else { break }  // a torn tail
            let start = offset + 4
            let kind = bytes[start]
            if kind == 1, length >= 5 {
                let headerCount = Int(integer(bytes, start + 1, UInt32.self))
                let headerStart = start + 5
                guard headerStart + headerCount <= start + length,
                      case .event(let header)? = try? HeaderDecoder.decode(Array(bytes[headerStart..<(headerStart + headerCount)]))
                else { break }
                records.append(.event(header, Array(bytes[(headerStart + headerCount)..<(start + length)])))
            } else if kind == 2, length >= 9 {
                guard let topic = Topic(String(decoding: bytes[(start + 9)..<(start + length)], as: UTF8.self)) else { break }
                records.append(.latest(topic, integer(bytes, start + 1, UInt64.self)))
            } else {
                break
            }
            offset = start + length
        }
        return records
    }

    /// Replaces the file with `records` (what the broker still retains), written to a temporary file,
    /// synced and renamed over the old one.
    func rewrite(_ keep: (EventJournal) -> Void) throws {
        let temporary = path + ".compacting"
        let fresh = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fresh >= 0 else { throw JournalError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let old = descriptor
        descriptor = fresh
        keep(self)
        do {
            try commit()
            guard fdatasync(fresh) == 0, rename(temporary, path) == 0 else {
                throw JournalError("cannot replace \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            close(fresh)
            descriptor = old
            throw error
        }
        close(old)
        close(fresh)
        descriptor = open(path, O_RDWR | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw JournalError("cannot reopen \(path): \(String(cString: strerror(errno)))") }
    }

    private func contents() throws -> [UInt8] {
        let size = lseek(descriptor, 0, SEEK_END)
        guard size > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: Int(size))
        var offset = 0
        while offset < bytes.count {
            let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + offset, $0.count - offset, off_t(offset)) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { throw JournalError("cannot read \(path): \(String(cString: strerror(errno)))") }
            offset += got
        }
        return bytes
    }

    private func appendRecordHeader(kind: UInt8, length: Int) {
        put(UInt32(length))
        buffer.append(kind)
    }

    private func put<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { buffer.append(contentsOf: $0) }
    }

    private func integer<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, _: T.Type) -> T {
        var value: T = 0
        for index in offset..<(offset + MemoryLayout<T>.size) { value = value << 8 | T(bytes[index]) }
        return value
    }
}

/// One record read back from the journal.
enum JournalRecord {
    case event(EventHeader, [UInt8])
    case latest(Topic, UInt64)
}

/// The journal could not be read or written.
struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

#if canImport(Glibc)
import Glibc
#endif
import CZeroMQ
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
    /// Held (flock) for the journal's lifetime: one broker per data directory.
    private let lock: Int32
    private var buffer: [UInt8] = []
    /// Where the file ends (what is queued not included).
    private var fileEnd: off_t = 0
    /// Up to where space is allocated past the file's end, so that a commit never meets a full disk halfway;
    /// nil when the file system cannot reserve space (a full disk then fails a commit).
    private var reservedEnd: off_t? = 0
    /// Bytes `reserve` granted to events not queued yet (the reactor queues a turn's events at its commit).
    private var promised = 0
    private static let reserveAhead: off_t = 8 << 20
    private var encoded: [UInt8] = []

    /// Opens (or creates) the journal in `directory`, after taking the directory's lock: a second broker on
    /// the same directory is refused rather than compacting a journal another one is writing.
    init(directory: String, sync: Bool) throws {
        path = directory + "/events.journal"
        self.sync = sync
        lock = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o640)
        guard lock >= 0 else { throw JournalError("cannot open \(directory)/lock: \(String(cString: strerror(errno)))") }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "another broker uses this data directory" : String(cString: strerror(errno))
            close(lock)
            throw JournalError("cannot lock \(directory)/lock: \(reason)")
        }
        descriptor = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else {
            close(lock)
            throw JournalError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        fileEnd = lseek(descriptor, 0, SEEK_END)
    }

    deinit {
        close(descriptor)
        close(lock)
    }

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

    /// Whether `bytes` more can be queued with disk space reserved for them: reserves 8 MiB ahead when it can,
    /// else just what is needed, and says false when the data directory has no room (the event must be refused).
    func reserve(_ bytes: Int) -> Bool {
        guard let reserved = reservedEnd else { return true }
        let needed = fileEnd + off_t(buffer.count + promised + bytes)
        guard needed > reserved else {
            promised += bytes
            return true
        }
        for target in [needed + Self.reserveAhead, needed] {
            if parley_reserve_space(descriptor, Int64(fileEnd), Int64(target - fileEnd)) == 0 {
                reservedEnd = target
                promised += bytes
                return true
            }
            if errno == EOPNOTSUPP {
                reservedEnd = nil
                return true
            }
        }
        return false
    }

    /// Cuts the file back to `length` (the end of its last complete record): what is appended after a torn
    /// record would not be read back.
    func truncate(to length: off_t) throws {
        guard length < fileEnd else { return }
        guard ftruncate(descriptor, length) == 0 else { throw JournalError("cannot truncate \(path): \(String(cString: strerror(errno)))") }
        fileEnd = length
    }

    /// Writes what was queued, and syncs it when `sync` is on. Throws when the disk refuses: the caller
    /// must then not confirm the events.
    func commit() throws {
        promised = 0
        guard !buffer.isEmpty else { return }
        try writeQueued()
        if sync, fdatasync(descriptor) != 0 { throw JournalError("cannot sync \(path): \(String(cString: strerror(errno)))") }
    }

    /// Within `rewrite`: writes what was queued once it passes a chunk, so that compaction holds one chunk
    /// rather than a second copy of everything retained.
    func writeIfLarge() throws {
        if buffer.count >= 1 << 20 { try writeQueued() }
    }

    /// A reader of every complete record, in order, from the start of the file.
    func records() -> JournalReader {
        JournalReader(descriptor: descriptor, path: path)
    }

    /// Replaces the file with what `keep` appends (what the broker still retains), written to a temporary
    /// file, synced and renamed over the old one. On failure the old file stays in use and the temporary goes.
    func rewrite(_ keep: (EventJournal) throws -> Void) throws {
        let temporary = path + ".compacting"
        let fresh = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fresh >= 0 else { throw JournalError("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let (old, oldEnd) = (descriptor, fileEnd)
        (descriptor, fileEnd) = (fresh, 0)
        do {
            try keep(self)
            try writeQueued()
            guard fdatasync(fresh) == 0, rename(temporary, path) == 0 else {
                throw JournalError("cannot replace \(path): \(String(cString: strerror(errno)))")
            }
        } catch {
            buffer.removeAll()
            close(fresh)
            unlink(temporary)
            (descriptor, fileEnd) = (old, oldEnd)
            throw error
        }
        close(old)
        close(fresh)
        descriptor = open(path, O_RDWR | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw JournalError("cannot reopen \(path): \(String(cString: strerror(errno)))") }
        fileEnd = lseek(descriptor, 0, SEEK_END)
        reservedEnd = reservedEnd.map { _ in 0 }
    }

    private func writeQueued() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw JournalError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
            fileEnd += off_t(written)
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func appendRecordHeader(kind: UInt8, length: Int) {
        put(UInt32(length))
        buffer.append(kind)
    }

    private func put<T: FixedWidthInteger>(_ value: T) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { buffer.append(contentsOf: $0) }
    }
}

/// The journal could not be read or written.
struct JournalError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

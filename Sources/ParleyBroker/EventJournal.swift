#if canImport(Glibc)
import Glibc
#endif
import CZeroMQ
import ParleyBrokerCore
import ParleyWire
import ZeroMQ

/// The broker's append-only event log in its data directory, so that confirmed events and topic sequence
/// numbers survive a crash or restart. Owned by the reactor thread.
///
/// File `events.journal`: records of [u32 length][u8 kind][fields], big-endian. Kind 1 is an event: its
/// EVENT header bytes (as on the wire, with the sequence and timestamp) then the body. Kind 2 is a topic's
/// latest sequence (kept when compaction drops all its events, so sequences are never reused). Kind 3 is an
/// agent's topic floor (its forgotten topics' highest sequence, after which its new topics start), written by
/// compaction; kind 4 a topic forgotten, with its latest sequence, written when it is forgotten; kind 5 a topic
/// purged by an administrator, with the sequence it was purged through. Records are
/// written before the CONFIRMs of a reactor turn go out (group commit), and synced to disk at that point
/// when `sync` is on. A torn record at the end (a crash mid-write) is ignored at start-up. It is compacted at
/// start-up and, while the broker runs, whenever it outgrows twice what is retained plus a slack
/// (`JournalCompaction`).
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
    /// The compaction in progress, if any.
    private var compaction: JournalCompaction?
    /// The size below which no compaction is tried: raised past a failed one, so that it is not retried at once.
    private var nextCompactionSize: off_t = 0
    /// A compaction was asked for (`compactSoon`) and has not started yet.
    private var compactionWanted = false
    /// How far the file may grow past twice the retained bytes before it is compacted while the broker runs.
    private let compactionSlack: off_t

    /// What a compaction while running did, for the log.
    enum CompactionEvent {
        case started(size: off_t)
        case finished(before: off_t, after: off_t)
        case failed(String)
    }

    /// Opens (or creates) the journal in `directory`, after taking the directory's lock: a second broker on
    /// the same directory is refused rather than compacting a journal another one is writing.
    init(directory: String, sync: Bool, compactionSlack: Int) throws {
        path = directory + "/events.journal"
        self.sync = sync
        self.compactionSlack = off_t(compactionSlack)
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
        unlink(path + ".compacting")  // left by a compaction a crash interrupted
    }

    deinit {
        close(descriptor)
        close(lock)
    }

    /// Queues an event for the next `commit`.
    func append(_ header: EventHeader, body: Message?) {
        JournalFile.appendEvent(header, body: body, to: &buffer, scratch: &encoded)
    }

    /// Queues a topic's latest sequence for the next `commit`.
    func appendLatest(_ topic: Topic, _ latest: UInt64) {
        JournalFile.appendLatest(topic, latest, to: &buffer)
    }

    /// Queues an agent's topic floor for the next `commit`.
    func appendTopicFloor(_ floor: UInt64, of agent: String) {
        JournalFile.appendTopicFloor(floor, of: agent, to: &buffer)
    }

    /// Queues a forgotten or purged topic for the next `commit`.
    func append(_ mark: TopicMark) {
        JournalFile.append(mark, to: &buffer)
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
        compaction?.committed(upTo: fileEnd)
    }

    /// Asks for a compaction at the next `compactIfDue`, whatever the file's size (after a purge: the purged
    /// payloads must leave the disk, not wait for the file to grow). One running now copied them already: the next.
    func compactSoon() {
        compactionWanted = true
    }

    /// Starts a compaction in the background when the file holds more than twice `retainedBytes` (the retained
    /// events' footprint) plus the slack, or one was asked for (`compactSoon`), and none runs; `floors` gives each
    /// topic's floor and each agent's topic floor (see `JournalCompaction`).
    func compactIfDue(retainedBytes: Int,
                      floors: () -> (topics: [Topic: UInt64], agents: [(agent: String, floor: UInt64)])) -> CompactionEvent? {
        guard compaction == nil else { return nil }
        let grown = fileEnd >= nextCompactionSize && fileEnd > 2 * off_t(retainedBytes) + compactionSlack
        guard grown || compactionWanted else { return nil }
        compactionWanted = false
        do {
            let (topicFloors, agentFloors) = floors()
            compaction = try JournalCompaction(path: path, floors: topicFloors, agentFloors: agentFloors, end: fileEnd)
            return .started(size: fileEnd)
        } catch {
            nextCompactionSize = fileEnd + compactionSlack
            return .failed("\(error)")
        }
    }

    /// Once the compaction's thread is done (call with nothing queued): appends what was committed since it
    /// copied, syncs and renames the new file over the old one, and writes to it from then on. On failure the
    /// old file stays in use and the next try waits until the file has grown by the slack.
    func finishCompaction() -> CompactionEvent? {
        guard let compaction, compaction.currentStage != .copying else { return nil }
        self.compaction = nil
        do {
            guard compaction.currentStage == .copied else { throw JournalError(compaction.failureReason) }
            try JournalFile.copy(compaction.copiedEnd..<fileEnd, of: descriptor, to: compaction.descriptor, path: path)
            guard fdatasync(compaction.descriptor) == 0, rename(compaction.temporaryPath, path) == 0 else {
                throw JournalError("cannot replace \(path): \(JournalFile.lastError)")
            }
        } catch {
            close(compaction.descriptor)
            unlink(compaction.temporaryPath)
            nextCompactionSize = fileEnd + compactionSlack
            return .failed("\(error)")
        }
        let before = fileEnd
        close(descriptor)
        descriptor = compaction.descriptor
        fileEnd = lseek(descriptor, 0, SEEK_END)
        reservedEnd = reservedEnd.map { _ in 0 }
        return .finished(before: before, after: fileEnd)
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
        do {
            try buffer.withUnsafeBytes { try JournalFile.write($0, to: descriptor, path: path) }
        } catch {
            fileEnd = lseek(descriptor, 0, SEEK_END)  // part of it may have been written
            throw error
        }
        fileEnd += off_t(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }
}

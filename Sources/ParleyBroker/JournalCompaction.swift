#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ParleyWire
import Synchronization

/// One compaction of the journal while the broker runs. A thread of its own writes a new file: every agent's
/// topic floor, every topic's floor (the sequence before its oldest retained event, or its latest when none is
/// retained) as a latest record, then the event records above those floors (none of topics the broker forgot) from the part of the old file committed when it started,
/// then what the reactor committed meanwhile, in rounds, and syncs it. The reactor then appends the last bytes
/// and renames the new file over the old one (`EventJournal.finishCompaction`). Loading the new file gives the
/// same retained events and sequences as loading the old one.
final class JournalCompaction: Sendable {
    enum Stage: Int { case copying, copied, failed }

    let temporaryPath: String
    /// The new file, opened for appending; the journal's descriptor once renamed.
    let descriptor: Int32
    /// Set by the thread when it is done.
    private let stage = Atomic<Int>(Stage.copying.rawValue)
    /// How much of the old file the new one holds (records in the old file up to here are in it), once copied.
    private let copied = Atomic<Int64>(0)
    /// How far the reactor has written the old file: the thread copies up to here.
    private let committed: Atomic<Int64>
    private let failure = Mutex<String?>(nil)

    /// Starts the thread: `floors` for every topic the broker knows, `agentFloors` for every agent whose topics it
    /// forgot, `end` the old file's committed end now.
    init(path: String, floors: [Topic: UInt64], agentFloors: [(agent: String, floor: UInt64)], end: off_t) throws {
        temporaryPath = path + ".compacting"
        descriptor = open(temporaryPath, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw JournalError("cannot create \(temporaryPath): \(JournalFile.lastError)") }
        committed = Atomic(Int64(end))
        let thread = Thread { [self] in copy(from: path, floors: floors, agentFloors: agentFloors, end: end) }
        thread.name = "parley-journal-compaction"
        thread.start()
    }

    /// The reactor wrote the old file up to `end`.
    func committed(upTo end: off_t) {
        committed.store(Int64(end), ordering: .releasing)
    }

    /// Where the thread is; after `.copied`, `copiedEnd` says how much of the old file it copied.
    var currentStage: Stage { Stage(rawValue: stage.load(ordering: .acquiring))! }
    var copiedEnd: off_t { off_t(copied.load(ordering: .acquiring)) }
    var failureReason: String { failure.withLock { $0 } ?? "unknown" }

    private func copy(from path: String, floors: [Topic: UInt64], agentFloors: [(agent: String, floor: UInt64)], end: off_t) {
        do {
            let source = open(path, O_RDONLY | O_CLOEXEC)
            guard source >= 0 else { throw JournalError("cannot open \(path): \(JournalFile.lastError)") }
            defer { close(source) }
            var buffer: [UInt8] = []
            for (agent, floor) in agentFloors { JournalFile.appendTopicFloor(floor, of: agent, to: &buffer) }
            for (topic, floor) in floors { JournalFile.appendLatest(topic, floor, to: &buffer) }
            var reader = JournalReader(descriptor: source, path: path, limit: end)
            while let record = try reader.next() {
                // A topic missing from `floors` was forgotten: its events go (its agent's floor stands for them).
                guard case .event(let header, _) = record, let floor = floors[header.topic], header.sequence > floor else { continue }
                reader.withLastRecord { buffer.append(contentsOf: $0) }
                if buffer.count >= 1 << 20 { try flush(&buffer) }
            }
            guard reader.validEnd == end else {
                throw JournalError("\(path) has an unreadable record at byte \(reader.validEnd), before its committed end \(end)")
            }
            try flush(&buffer)
            // What the reactor committed meanwhile, until little is left for it to copy itself.
            var position = end
            while true {
                let now = off_t(committed.load(ordering: .acquiring))
                guard now - position >= 1 << 20 else { break }
                try JournalFile.copy(position..<now, of: source, to: descriptor, path: temporaryPath)
                position = now
            }
            guard fdatasync(descriptor) == 0 else { throw JournalError("cannot sync \(temporaryPath): \(JournalFile.lastError)") }
            copied.store(Int64(position), ordering: .releasing)
            stage.store(Stage.copied.rawValue, ordering: .releasing)
        } catch {
            failure.withLock { $0 = "\(error)" }
            stage.store(Stage.failed.rawValue, ordering: .releasing)
        }
    }

    private func flush(_ buffer: inout [UInt8]) throws {
        try buffer.withUnsafeBytes { try JournalFile.write($0, to: descriptor, path: temporaryPath) }
        buffer.removeAll(keepingCapacity: true)
    }
}

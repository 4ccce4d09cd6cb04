#if canImport(Glibc)
import Glibc
#endif
import ParleyBrokerCore
import ParleyWire
import ZeroMQ

/// Reads the journal's records in order through a window of the file, so that loading holds one chunk (or
/// one record, when a record is larger) besides what the broker retains, whatever the journal's size.
struct JournalReader {
    private let descriptor: Int32
    private let path: String
    /// Bytes read from the file and not consumed yet: `window[start..<end]`.
    private var window: [UInt8]
    private var start = 0
    private var end = 0
    private var fileOffset: off_t = 0
    /// Where reading stops: the file's end, or an earlier offset (the part a compaction copies).
    private let limit: off_t
    /// Where the last record read begins in the window (its length field).
    private var recordStart = 0
    /// Where the last complete record read ends: the journal's valid length so far.
    private(set) var validEnd: off_t = 0
    private static let chunk = 1 << 20

    init(descriptor: Int32, path: String, limit: off_t = .max) {
        self.descriptor = descriptor
        self.path = path
        self.limit = limit
        window = [UInt8](repeating: 0, count: Self.chunk)
    }

    /// The bytes of the record `next()` returned last, as in the file (valid until `next()` is called again).
    func withLastRecord<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try window.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[recordStart..<start])) }
    }

    /// The next complete record, or nil at the end of the file or at a torn or unreadable record (ignored:
    /// it was never confirmed). Records of kinds this version does not know (above 5: written by a later version)
    /// are skipped whole, so that their neighbours still load.
    mutating func next() throws -> JournalRecord? {
        while true {
            guard try fill(4) else { return nil }
            let length = Int(integer(start, UInt32.self))
            guard length >= 1, try fill(4 + length) else { return nil }
            recordStart = start
            start += 4 + length
            guard window[recordStart + 4] > JournalFile.latestKind else { return decodeRecord(length: length) }
            validEnd = fileOffset - off_t(end - start)
        }
    }

    /// Decodes the record just read (kinds 1 to 5), whose `length` bytes after its length field end at `start`.
    private mutating func decodeRecord(length: Int) -> JournalRecord? {
        let record = recordStart + 4
        let kind = window[record]
        let recordEnd = fileOffset - off_t(end - start)
        if kind == 1, length >= 5 {
            let headerCount = Int(integer(record + 1, UInt32.self))
            let headerStart = record + 5
            let bodyStart = headerStart + headerCount
            guard bodyStart <= start else { return nil }
            let decoded = window.withUnsafeBytes { try? HeaderDecoder.decode(UnsafeRawBufferPointer(rebasing: $0[headerStart..<bodyStart])) }
            guard case .event(let header)? = decoded else { return nil }
            validEnd = recordEnd
            let body = bodyStart == start ? nil : window.withUnsafeBytes { Message(bytes: UnsafeRawBufferPointer(rebasing: $0[bodyStart..<start])) }
            return .event(header, body)
        }
        // Kinds 2 to 5: `u64 sequence`, then a topic (2, 4, 5) or an agent id (3).
        guard (2...5).contains(kind), length >= 9 else { return nil }
        let sequence = integer(record + 1, UInt64.self)
        let name = String(decoding: window[(record + 9)..<start], as: UTF8.self)
        let decoded: JournalRecord?
        switch kind {
        case 2: decoded = Topic(name).map { .latest($0, sequence) }
        case 3: decoded = Names.agentProblem(name) == nil ? .topicFloor(name, sequence) : nil
        case 4: decoded = Topic(name).map { .mark(.forgotten($0, latest: sequence)) }
        default: decoded = Topic(name).map { .mark(.purged($0, through: sequence)) }
        }
        if decoded != nil { validEnd = recordEnd }
        return decoded
    }

    /// Makes `count` unconsumed bytes available from `start`, reading on (and growing the window only for a
    /// record larger than it); false when the file ends first.
    private mutating func fill(_ count: Int) throws -> Bool {
        guard end - start < count else { return true }
        if start > 0 {
            window.withUnsafeMutableBytes { bytes in
                bytes.baseAddress!.copyMemory(from: bytes.baseAddress! + start, byteCount: end - start)
            }
            end -= start
            start = 0
        }
        if window.count < count { window.append(contentsOf: repeatElement(0, count: count - window.count)) }
        while end < count {
            guard fileOffset < limit else { return false }
            let wanted = Int(min(off_t(window.count - end), limit - fileOffset))
            let got = window.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + end, wanted, fileOffset) }
            if got < 0, errno == EINTR { continue }
            guard got >= 0 else { throw JournalError("cannot read \(path): \(String(cString: strerror(errno)))") }
            guard got > 0 else { return false }
            end += got
            fileOffset += off_t(got)
        }
        return true
    }

    private func integer<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
        var value: T = 0
        for index in offset..<(offset + MemoryLayout<T>.size) { value = value << 8 | T(window[index]) }
        return value
    }
}

/// One record read back from the journal.
enum JournalRecord {
    case event(EventHeader, Message?)
    case latest(Topic, UInt64)
    /// An agent whose topics were forgotten: its topics opened later start after this sequence.
    case topicFloor(String, UInt64)
    /// A topic forgotten, or purged by an administrator.
    case mark(TopicMark)
}

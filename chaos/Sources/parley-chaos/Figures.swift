import Foundation

/// What one agent process reports: written atomically as JSON, periodically while it runs (`final` false)
/// and once more when it stops (`final` true). One file per incarnation, so a killed process's last
/// periodic report survives it.
struct AgentFigures: Codable, Sendable {
    var role: String
    var id: String
    var incarnation: Int
    var final = false
    /// Times `connect()` was tried before the broker welcomed the agent (a restarted agent may find its id
    /// still held by its dead predecessor for a moment).
    var connectAttempts = 0
    /// Set once the broker welcomed the agent.
    var connected = false
    var requests: RequestFigures?
    var serving: ServingFigures?
    var publishing: PublishingFigures?
    var receiving: ReceivingFigures?
}

/// A requester's figures.
struct RequestFigures: Codable, Sendable {
    var issued = 0
    var resolved = 0
    /// Outcomes by status name (OK, TIMEOUT, …).
    var outcomes: [String: Int] = [:]
    /// Of those, the ones the SDK made itself (no answer from the broker or gateway in time), by status.
    var localOutcomes: [String: Int] = [:]
    /// OK answers whose body was not the echo of their own request (a correlation bug).
    var mismatched = 0
    /// Issued and not resolved when the figures were written.
    var unresolved: Int { issued - resolved }
    /// The longest a request took to resolve, in milliseconds.
    var slowestMilliseconds = 0
    /// Outcomes other than OK as [Unix ms, status code] (the first 2,000), to line them up with the faults.
    var notable: [[UInt64]] = []

    enum CodingKeys: String, CodingKey { case issued, resolved, outcomes, localOutcomes, mismatched, slowestMilliseconds, notable }
}

/// A server's figures.
struct ServingFigures: Codable, Sendable {
    var handled = 0
    /// Deliveries whose attempt number was above 1 (redelivered after a server was lost).
    var redelivered = 0
    var maxAttempt = 0
    /// Handlers cancelled by a REVOKE (their request ended elsewhere, e.g. TIMEOUT).
    var revoked = 0
}

/// One run of events: `count` events with sequences `sequence`… and payload counters `counter`… both
/// increasing by one.
struct EventRun: Codable, Sendable, Equatable {
    var sequence: UInt64
    var counter: UInt64
    var count: UInt64

    /// Appends (sequence, counter) to the last run when it continues it; else starts a new run.
    static func append(_ sequence: UInt64, _ counter: UInt64, to runs: inout [EventRun]) {
        if var last = runs.last, last.sequence + last.count == sequence, last.counter + last.count == counter {
            last.count += 1
            runs[runs.count - 1] = last
        } else {
            runs.append(EventRun(sequence: sequence, counter: counter, count: 1))
        }
    }
}

/// A publisher's figures.
struct PublishingFigures: Codable, Sendable {
    var attempted = 0
    var confirmed = 0
    /// Publishes that ended without a CONFIRM (the SDK's publish timeout); such an event may or may not exist.
    var unconfirmed = 0
    /// Per topic: the confirmed events (sequence → payload counter) and the checks on them.
    var topics: [String: ConfirmedTopic] = [:]
}

/// The confirmed events of one topic.
struct ConfirmedTopic: Codable, Sendable {
    var runs: [EventRun] = []
    var confirmed = 0
    var lastSequence: UInt64 = 0
    /// CONFIRMs whose sequence was not above the previous one's: a sequence reused (or a broker bug).
    var regressions = 0
}

/// A subscriber's figures.
struct ReceivingFigures: Codable, Sendable {
    var topics: [String: ReceivedTopic] = [:]
}

/// What a subscriber got on one topic.
struct ReceivedTopic: Codable, Sendable {
    var runs: [EventRun] = []
    var delivered = 0
    var replayed = 0
    /// Events delivered at or below a sequence already delivered or skipped (duplicates, disorder).
    var outOfOrder = 0
    /// Events whose payload did not decode as a chaos event of this topic's publisher.
    var foreign = 0
    /// The ranges GAP notices named.
    var gaps: [[UInt64]] = []
    /// Everything up to here was delivered or named in a GAP.
    var through: UInt64 = 0
}

/// The payload of a chaos request: who asked, and the request's number.
struct WorkPayload: Codable, Sendable {
    var r: String
    var n: Int
    /// A handler should take this long (ms); 0 for the server's own choice.
    var hold: Int = 0
}

/// The payload of a chaos event: the publisher and its own counter.
struct TickPayload: Codable, Sendable {
    var p: String
    var n: UInt64
}

extension AgentFigures {
    /// Writes the figures to `path` atomically (a reader never sees half a file).
    func write(to path: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return }
        try? data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    /// The figures in `path`, or nil when there are none (yet).
    static func read(from path: String) -> AgentFigures? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(AgentFigures.self, from: data)
    }
}

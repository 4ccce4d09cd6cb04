/// How many answers a coordination waits for.
public enum Gather: Sendable, Equatable {
    /// Every target's outcome.
    case all
    /// The first OK answer; the other requests are cancelled.
    case first
    /// The first `n` OK answers; the other requests are cancelled.
    case quorum(Int)
}

/// The outcome of one coordination leg.
public struct CoordinationReply<Answer: Sendable>: Sendable {
    /// Where the leg went.
    public var target: Target
    /// Its outcome.
    public var outcome: Outcome
    /// The decoded answer, when the outcome is OK and decodable.
    public var answer: Answer?
}

extension Gather {
    /// How many answers of `targets` legs it waits for.
    func needed(of targets: Int) -> Int {
        switch self {
        case .all: targets
        case .first: 1
        case .quorum(let count): max(1, min(count, targets))
        }
    }
}

extension Agent {
    /// Sends `task` to every target at once and gathers the replies: all of them, the first OK one,
    /// or a quorum of OK ones (legs still running are then cancelled). A leg counts when its answer decodes.
    /// Throws `ParleyError.outcome` with FAILED when `.first` or `.quorum(n)` cannot be reached.
    public func coordinate<Task: Encodable & Sendable, Answer: Decodable & Sendable>(
        with targets: [Target], task: Task, gather: Gather = .all, timeout: Duration? = nil,
        as answer: Answer.Type = Answer.self
    ) async throws -> [CoordinationReply<Answer>] {
        let replies = await legs(to: targets, body: try JSONPayload.encode(task), contentType: "application/json", gather: gather,
                                 timeout: timeout) { try? JSONPayload.decode(Answer.self, from: $0.body) }
        let answered = replies.filter { $0.answer != nil }.count
        if gather != .all, answered < gather.needed(of: targets.count) {
            throw ParleyError.outcome(.failed, reason: "coordination got \(answered) answer(s); \(gather.needed(of: targets.count)) needed")
        }
        return replies
    }

    /// Sends `body` as it is to every target at once and gathers the replies as the typed `coordinate` does, but
    /// every OK outcome counts, whatever its body (its `answer` is that body). Never throws: the caller compares
    /// the OK replies with what it needed.
    public func coordinate(with targets: [Target], body: [UInt8], contentType: String = "application/json",
                           gather: Gather = .all, timeout: Duration? = nil) async -> [CoordinationReply<[UInt8]>] {
        await legs(to: targets, body: body, contentType: contentType, gather: gather, timeout: timeout) { $0.body }
    }

    /// Runs one leg per target; a leg counts toward `gather` when `answer` reads an answer from its OK outcome.
    private func legs<Answer: Sendable>(to targets: [Target], body: [UInt8], contentType: String, gather: Gather, timeout: Duration?,
                                        answer: @escaping @Sendable (Outcome) -> Answer?) async -> [CoordinationReply<Answer>] {
        let needed = gather.needed(of: targets.count)
        var replies: [CoordinationReply<Answer>] = []
        var answered = 0
        await withTaskGroup(of: CoordinationReply<Answer>.self) { group in
            for target in targets {
                group.addTask {
                    let outcome = await self.send(.coordinate, to: target, body: body, contentType: contentType, timeout: timeout)
                    return CoordinationReply(target: target, outcome: outcome, answer: outcome.status == .ok ? answer(outcome) : nil)
                }
            }
            for await reply in group {
                replies.append(reply)
                if reply.answer != nil { answered += 1 }
                if gather != .all, answered >= needed {
                    group.cancelAll()
                    break
                }
            }
        }
        return replies
    }
}

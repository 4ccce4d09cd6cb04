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

extension Agent {
    /// Sends `task` to every target at once and gathers the replies: all of them, the first OK one,
    /// or a quorum of OK ones (legs still running are then cancelled). Throws `ParleyError.outcome`
    /// with FAILED when `.first` or `.quorum(n)` cannot be reached.
    public func coordinate<Task: Encodable & Sendable, Answer: Decodable & Sendable>(
        with targets: [Target], task: Task, gather: Gather = .all, timeout: Duration? = nil,
        as answer: Answer.Type = Answer.self
    ) async throws -> [CoordinationReply<Answer>] {
        let body = try JSONPayload.encode(task)
        let needed: Int
        switch gather {
        case .all: needed = targets.count
        case .first: needed = 1
        case .quorum(let count): needed = max(1, min(count, targets.count))
        }
        var replies: [CoordinationReply<Answer>] = []
        var answered = 0
        await withTaskGroup(of: CoordinationReply<Answer>.self) { group in
            for target in targets {
                group.addTask {
                    let outcome = await self.send(.coordinate, to: target, body: body, timeout: timeout)
                    let decoded = outcome.status == .ok ? try? JSONPayload.decode(Answer.self, from: outcome.body) : nil
                    return CoordinationReply(target: target, outcome: outcome, answer: decoded)
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
        if gather != .all, answered < needed {
            throw ParleyError.outcome(.failed, reason: "coordination got \(answered) answer(s); \(needed) needed")
        }
        return replies
    }
}

import Parley

/// Requests delivered to the MCP agent, waiting for the LLM host to take them (`next_request`) and answer them
/// (`reply`). The agent's handler parks each request here until it is answered, its deadline passes (the broker
/// has told the requester TIMEOUT), or the broker withdraws it (REVOKE cancels the handler); a later `reply` is
/// told which.
public actor RequestInbox {
    /// A request as `next_request` shows it.
    public struct Taken: Sendable {
        public var id: String
        public var request: IncomingRequest
        /// Time left before its deadline.
        public var timeLeft: Duration
    }

    /// What became of a `reply` or `progress`.
    public enum Answering: Sendable, Equatable {
        /// Done: what to tell the model.
        case done(String)
        /// The request is not (or no longer) waiting: why, in words for the model.
        case refused(String)
    }

    private struct Parked {
        var request: IncomingRequest
        var deadline: ContinuousClock.Instant
        /// No extension goes past it: the broker's maximum deadline from the delivery.
        var latest: ContinuousClock.Instant
        var answer: CheckedContinuation<Parley.Response, Never>
        /// Ends the request at its deadline; cancelled when it ends otherwise.
        var expiry: Task<Void, Never>
    }

    /// A waiting `next_request` call.
    private struct Reader {
        var continuation: CheckedContinuation<String?, Never>
        /// Gives up at the end of the wait; cancelled when the reader is resumed otherwise.
        var timer: Task<Void, Never>
    }

    private static let withdrawn = "it was withdrawn by the broker (its deadline passed, the requester cancelled it or went away, "
        + "it went to another agent, or this agent is closing); nobody waits for an answer any more"
    private static let expired = "its deadline passed before it was answered; the requester was told TIMEOUT"
    /// How long after its deadline a request's handler gives up by itself: by then the broker, whose deadline it
    /// is, has ended it and withdrawn it, so the handler's FAILED never beats the broker's TIMEOUT.
    private static let grace: Duration = .seconds(1)

    private let clock = ContinuousClock()
    private let maxDeadline: Duration
    private var parked: [String: Parked] = [:]
    /// Ids of parked requests not taken yet, oldest first.
    private var queue: [String] = []
    /// `next_request` calls waiting for a request, by token, and the tokens oldest first.
    private var readers: [Int: Reader] = [:]
    private var readerOrder: [Int] = []
    /// Why recently ended requests ended, so that a late `reply` says so (the last 1,000).
    private var ended: [String: String] = [:]
    private var endedOrder: [String] = []
    private var nextID = 0
    private var nextReader = 0

    /// An inbox for a broker whose maximum deadline (its `--max-deadline-ms`) is `maxDeadline`.
    public init(maxDeadline: Duration = .seconds(600)) {
        self.maxDeadline = maxDeadline
    }

    /// The agent's handler: parks `request` until `reply` answers it, its deadline passes or the handler's task is
    /// cancelled (the broker revoked the delivery, or the agent is closing).
    public func handle(_ request: IncomingRequest) async -> Parley.Response {
        nextID += 1
        let id = "req-\(nextID)"
        let now = clock.now
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard !Task.isCancelled else {
                    remember(id, ended: Self.withdrawn)
                    return continuation.resume(returning: .fail("withdrawn"))
                }
                parked[id] = Parked(request: request, deadline: now + request.timeout, latest: now + maxDeadline,
                                    answer: continuation, expiry: Task { await self.expire(id) })
                offer(id, first: false)
            }
        } onCancel: {
            Task { await self.end(id, Self.withdrawn, answering: .fail("withdrawn")) }
        }
    }

    /// The next request not taken yet, waiting up to `wait` for one; nil when none came. Throws
    /// `CancellationError` when the calling task is cancelled: a request handed over at that moment goes back to
    /// the front of the queue.
    public func next(waitingUpTo wait: Duration) async throws -> Taken? {
        let end = clock.now + wait
        while true {
            try Task.checkCancellation()
            let id: String
            if queue.isEmpty {
                guard let handed = await handedOver(until: end) else {
                    try Task.checkCancellation()
                    return nil
                }
                id = handed
            } else {
                id = queue.removeFirst()
            }
            if Task.isCancelled {
                offer(id, first: true)
                throw CancellationError()
            }
            if let taken = taken(id) { return taken }
        }
    }

    /// Answers request `id`.
    public func reply(_ id: String, _ response: Parley.Response) -> Answering {
        guard open(id) != nil else { return .refused(whyNotOpen(id)) }
        end(id, "it was already answered", answering: response)
        return .done("done")
    }

    /// Reports progress on request `id` and moves its deadline `extra` from now, as far as the broker's maximum
    /// deadline allows (the result says so when it does not).
    public func progress(_ id: String, note: String, extendBy extra: Duration) -> Answering {
        guard let request = open(id) else { return .refused(whyNotOpen(id)) }
        let now = clock.now
        let granted = max(min(extra, request.latest - now), .zero)
        request.request.progress(extendBy: granted, note: note)
        parked[id]?.deadline = max(request.deadline, now + granted)
        guard granted < extra else { return .done("done") }
        return .done("done, but clamped: the broker extends no request past its maximum deadline of "
                     + "\(Int(maxDeadline.seconds)) s, so at most \(Int(granted.seconds)) s of the \(Int(extra.seconds)) s "
                     + "asked for were granted; reply before then")
    }

    private func taken(_ id: String) -> Taken? {
        guard let request = open(id) else { return nil }
        return Taken(id: id, request: request.request, timeLeft: request.deadline - clock.now)
    }

    /// Parked request `id` while its deadline has not passed.
    private func open(_ id: String) -> Parked? {
        guard let request = parked[id], clock.now < request.deadline else { return nil }
        return request
    }

    /// Hands request `id` to the longest-waiting reader, or queues it (at the front when `first`: given back).
    private func offer(_ id: String, first: Bool) {
        guard parked[id] != nil else { return }
        if let reader = readerOrder.first {
            resume(reader, with: id)
        } else if first {
            queue.insert(id, at: 0)
        } else {
            queue.append(id)
        }
    }

    /// Waits until `offer` hands this reader a request id; nil when `end` passes or the task is cancelled first.
    private func handedOver(until end: ContinuousClock.Instant) async -> String? {
        guard clock.now < end else { return nil }
        nextReader += 1
        let token = nextReader
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                guard !Task.isCancelled else { return continuation.resume(returning: nil) }
                let timer = Task {
                    guard (try? await Task.sleep(until: end, clock: clock)) != nil else { return }
                    resume(token, with: nil)
                }
                readers[token] = Reader(continuation: continuation, timer: timer)
                readerOrder.append(token)
            }
        } onCancel: {
            Task { await self.resume(token, with: nil) }
        }
    }

    private func resume(_ token: Int, with id: String?) {
        guard let reader = readers.removeValue(forKey: token) else { return }
        readerOrder.removeAll { $0 == token }
        reader.timer.cancel()
        reader.continuation.resume(returning: id)
    }

    /// Ends request `id` a grace period after its deadline (which progress may move), unless it ended before.
    private func expire(_ id: String) async {
        while let request = parked[id], clock.now < request.deadline + Self.grace {
            guard (try? await Task.sleep(until: request.deadline + Self.grace, clock: clock)) != nil else { return }
        }
        end(id, Self.expired, answering: .fail("no answer within the deadline"))
    }

    /// Ends request `id` if it is parked: remembers `why` and resumes its handler with `response` (which the agent
    /// drops when the broker withdrew the request).
    private func end(_ id: String, _ why: String, answering response: Parley.Response) {
        guard let request = parked.removeValue(forKey: id) else { return }
        queue.removeAll { $0 == id }
        request.expiry.cancel()
        remember(id, ended: why)
        request.answer.resume(returning: response)
    }

    private func whyNotOpen(_ id: String) -> String {
        if parked[id] != nil { return "too late for \(id): \(Self.expired)" }
        if let why = ended[id] { return "too late for \(id): \(why)" }
        return "no request \(id) is waiting (take one with next_request)"
    }

    private func remember(_ id: String, ended why: String) {
        ended[id] = why
        endedOrder.append(id)
        if endedOrder.count > 1_000 { ended.removeValue(forKey: endedOrder.removeFirst()) }
    }
}

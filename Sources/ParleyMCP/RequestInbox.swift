import Parley

/// Requests delivered to the MCP agent, waiting for the LLM host to take them (`next_request`) and answer them
/// (`reply`). The agent's handler parks each request here until it is answered or its deadline passes; past the
/// deadline the handler gives up (the broker has told the requester TIMEOUT) and a later `reply` is told so.
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
        case done
        /// The request is not (or no longer) waiting: why, in words for the model.
        case refused(String)
    }

    private struct Parked {
        var request: IncomingRequest
        var deadline: ContinuousClock.Instant
        var answer: CheckedContinuation<Parley.Response, Never>
    }

    private let clock = ContinuousClock()
    private var parked: [String: Parked] = [:]
    /// Ids of parked requests not taken yet, oldest first.
    private var queue: [String] = []
    /// `next_request` calls waiting for a request, by token.
    private var readers: [Int: CheckedContinuation<String?, Never>] = [:]
    private var readerOrder: [Int] = []
    /// Why recently ended requests ended, so that a late `reply` says so (the last 1,000).
    private var ended: [String: String] = [:]
    private var endedOrder: [String] = []
    private var nextID = 0
    private var nextReader = 0

    public init() {}

    /// The agent's handler: parks `request` until `reply` answers it or its deadline passes.
    public func handle(_ request: IncomingRequest) async -> Parley.Response {
        nextID += 1
        let id = "req-\(nextID)"
        let deadline = clock.now + request.timeout
        return await withCheckedContinuation { continuation in
            parked[id] = Parked(request: request, deadline: deadline, answer: continuation)
            if let reader = readerOrder.first {
                readerOrder.removeFirst()
                readers.removeValue(forKey: reader)?.resume(returning: id)
            } else {
                queue.append(id)
            }
            Task { await self.expire(id) }
        }
    }

    /// The next request not taken yet, waiting up to `wait` for one; nil when none came.
    public func next(waitingUpTo wait: Duration) async -> Taken? {
        if !queue.isEmpty {
            let id = queue.removeFirst()
            return taken(id)
        }
        guard wait > .zero else { return nil }
        nextReader += 1
        let token = nextReader
        let id: String? = await withCheckedContinuation { continuation in
            readers[token] = continuation
            readerOrder.append(token)
            Task {
                try? await Task.sleep(for: wait)
                self.giveUp(token)
            }
        }
        return id.flatMap(taken)
    }

    /// Answers request `id`.
    public func reply(_ id: String, _ response: Parley.Response) -> Answering {
        guard let request = parked.removeValue(forKey: id) else { return .refused(whyNotWaiting(id)) }
        queue.removeAll { $0 == id }
        remember(id, ended: "it was already answered")
        request.answer.resume(returning: response)
        return .done
    }

    /// Reports progress on request `id` and moves its deadline `extra` from now.
    public func progress(_ id: String, note: String, extendBy extra: Duration) -> Answering {
        guard let request = parked[id] else { return .refused(whyNotWaiting(id)) }
        request.request.progress(extendBy: extra, note: note)
        parked[id]?.deadline = max(request.deadline, clock.now + extra)
        return .done
    }

    private func taken(_ id: String) -> Taken? {
        guard let request = parked[id] else { return nil }
        return Taken(id: id, request: request.request, timeLeft: max(request.deadline - clock.now, .zero))
    }

    private func giveUp(_ token: Int) {
        guard let reader = readers.removeValue(forKey: token) else { return }
        readerOrder.removeAll { $0 == token }
        reader.resume(returning: nil)
    }

    /// Ends request `id` once its deadline (which progress may move) has passed, unless answered before.
    private func expire(_ id: String) async {
        while let request = parked[id] {
            let now = clock.now
            guard now >= request.deadline else {
                try? await Task.sleep(until: request.deadline, clock: clock)
                continue
            }
            parked.removeValue(forKey: id)
            queue.removeAll { $0 == id }
            remember(id, ended: "its deadline passed before it was answered; the requester was told TIMEOUT")
            request.answer.resume(returning: .fail("no answer within the deadline"))
            return
        }
    }

    private func whyNotWaiting(_ id: String) -> String {
        if let why = ended[id] { return "too late for \(id): \(why)" }
        return "no request \(id) is waiting (take one with next_request)"
    }

    private func remember(_ id: String, ended why: String) {
        ended[id] = why
        endedOrder.append(id)
        if endedOrder.count > 1_000 { ended.removeValue(forKey: endedOrder.removeFirst()) }
    }
}

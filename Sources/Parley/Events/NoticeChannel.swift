import Synchronization

/// The queue between the reactor thread and one subscription's consumer. The reactor appends notices without
/// waiting; the consumer takes everything queued at once, swapping arrays (no allocation once both have grown),
/// and suspends only when nothing is queued. Thread-safe; more than one task may take from it (each notice goes to
/// one of them).
final class NoticeChannel: Sendable {
    private struct State {
        var queued: [EventNotice] = []
        var waiter: UnsafeContinuation<Void, Never>?
        /// Consumers waiting besides `waiter` (rare: a subscription iterated by several tasks).
        var otherWaiters: [UnsafeContinuation<Void, Never>] = []
        var finished = false

        /// Takes every waiting consumer out, to be resumed outside the lock.
        mutating func takeWaiters() -> (UnsafeContinuation<Void, Never>?, [UnsafeContinuation<Void, Never>]) {
            defer { waiter = nil }
            guard !otherWaiters.isEmpty else { return (waiter, []) }
            defer { otherWaiters = [] }
            return (waiter, otherWaiters)
        }
    }

    private static func resume(_ waiters: (UnsafeContinuation<Void, Never>?, [UnsafeContinuation<Void, Never>])) {
        waiters.0?.resume()
        for waiter in waiters.1 { waiter.resume() }
    }

    private let state = Mutex(State())
    /// Notices sent and not yet taken by the consumer: the reactor stops reading live events above its limit.
    let backlog = Atomic<Int>(0)

    /// Queues `notice`, waking the consumer if it waits. Dropped once the channel is finished.
    func send(_ notice: EventNotice) {
        let (queued, waiters) = state.withLock { state -> (Bool, (UnsafeContinuation<Void, Never>?, [UnsafeContinuation<Void, Never>])) in
            guard !state.finished else { return (false, (nil, [])) }
            state.queued.append(notice)
            return (true, state.takeWaiters())
        }
        if queued { backlog.add(1, ordering: .relaxed) }
        Self.resume(waiters)
    }

    /// Ends the sequence once the consumers have taken what is queued.
    func finish() {
        Self.resume(state.withLock { state in
            state.finished = true
            return state.takeWaiters()
        })
    }

    /// Replaces `batch` with every queued notice, waiting while none are queued. False when the channel is finished
    /// and drained, or the consuming task was cancelled (the channel then finishes).
    func take(into batch: inout [EventNotice]) async -> Bool {
        batch.removeAll(keepingCapacity: true)
        while true {
            let (taken, finished) = state.withLock { state -> (Bool, Bool) in
                guard !state.queued.isEmpty else { return (false, state.finished) }
                swap(&state.queued, &batch)
                return (true, false)
            }
            if taken {
                backlog.subtract(batch.count, ordering: .relaxed)
                return true
            }
            if finished { return false }
            if Task.isCancelled {
                finish()
                return false
            }
            await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
                    let ready = state.withLock { state -> Bool in
                        if !state.queued.isEmpty || state.finished || Task.isCancelled { return true }
                        if state.waiter == nil { state.waiter = continuation } else { state.otherWaiters.append(continuation) }
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                // Wakes every consumer: the cancelled one returns, the others look again and wait again.
                Self.resume(state.withLock { $0.takeWaiters() })
            }
        }
    }
}

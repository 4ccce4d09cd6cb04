import Synchronization

/// The queue between the reactor thread and one subscription's consumer. The reactor appends notices without
/// waiting; the consumer takes everything queued at once, swapping arrays (no allocation once both have grown),
/// and suspends only when nothing is queued. Thread-safe.
final class NoticeChannel: Sendable {
    private struct State {
        var queued: [EventNotice] = []
        var waiter: UnsafeContinuation<Void, Never>?
        var finished = false
    }

    private let state = Mutex(State())
    /// Notices sent and not yet taken by the consumer: the reactor stops reading live events above its limit.
    let backlog = Atomic<Int>(0)

    /// Queues `notice`, waking the consumer if it waits. Dropped once the channel is finished.
    func send(_ notice: EventNotice) {
        let (queued, waiter) = state.withLock { state -> (Bool, UnsafeContinuation<Void, Never>?) in
            guard !state.finished else { return (false, nil) }
            state.queued.append(notice)
            defer { state.waiter = nil }
            return (true, state.waiter)
        }
        if queued { backlog.add(1, ordering: .relaxed) }
        waiter?.resume()
    }

    /// Ends the sequence once the consumer has taken what is queued.
    func finish() {
        state.withLock { state -> UnsafeContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
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
                        state.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                state.withLock { state -> UnsafeContinuation<Void, Never>? in
                    defer { state.waiter = nil }
                    return state.waiter
                }?.resume()
            }
        }
    }
}

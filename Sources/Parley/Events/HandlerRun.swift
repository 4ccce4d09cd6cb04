import Synchronization

/// How one handler run ended.
enum HandlerRunOutcome: Sendable {
    case finished(HandlerResult)
    case threw(String)
    case timedOut
    /// The dispatching task was cancelled while the handler ran.
    case cancelled
}

/// Runs `handler` with a time limit and returns as soon as it finishes, throws, times out, or the calling
/// task is cancelled — whichever comes first.
///
/// The handler runs in its own task racing a sleeping timer task. The loser is cancelled. The caller does not
/// wait for the handler to honour that cancellation, so a handler that ignores it cannot hold up the chain
/// (it runs on to its end in the background and its result is dropped). No lock is held while the handler runs.
func runHandler(_ handler: @escaping EventHandler, context: EventContext, timeout: Duration) async -> HandlerRunOutcome {
    let race = HandlerRace()
    return await withTaskCancellationHandler {
        await withCheckedContinuation { (continuation: CheckedContinuation<HandlerRunOutcome, Never>) in
            guard race.install(continuation) else { return }  // cancelled before the handler started
            let work = Task {
                let outcome: HandlerRunOutcome
                do { outcome = .finished(try await handler(context)) } catch { outcome = .threw(String(describing: error)) }
                race.finish(outcome)
            }
            let timer = Task {
                do { try await Task.sleep(for: timeout) } catch { return }  // cancelled: the handler won
                race.finish(.timedOut)
            }
            race.track([work, timer])
        }
    } onCancel: {
        race.finish(.cancelled)
    }
}

/// The first outcome wins: it resumes the waiting continuation once and cancels both tasks.
private final class HandlerRace: Sendable {
    private struct State {
        var continuation: CheckedContinuation<HandlerRunOutcome, Never>?
        var outcome: HandlerRunOutcome?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// Stores the continuation; false when the race is already over (it was resumed here).
    func install(_ continuation: CheckedContinuation<HandlerRunOutcome, Never>) -> Bool {
        let early = state.withLock { state -> HandlerRunOutcome? in
            if let outcome = state.outcome { return outcome }
            state.continuation = continuation
            return nil
        }
        guard let early else { return true }
        continuation.resume(returning: early)
        return false
    }

    func track(_ tasks: [Task<Void, Never>]) {
        let alreadyOver = state.withLock { state -> Bool in
            if state.outcome != nil { return true }
            state.tasks = tasks
            return false
        }
        if alreadyOver { tasks.forEach { $0.cancel() } }
    }

    func finish(_ outcome: HandlerRunOutcome) {
        let taken = state.withLock { state -> (CheckedContinuation<HandlerRunOutcome, Never>?, [Task<Void, Never>])? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.continuation = nil; state.tasks = [] }
            return (state.continuation, state.tasks)
        }
        guard let (continuation, tasks) = taken else { return }
        tasks.forEach { $0.cancel() }
        continuation?.resume(returning: outcome)
    }
}

import Dispatch

/// Runs `work` on Swift's cooperative pool and blocks the calling thread until it ends: for a harness that drives
/// its children from a thread of its own (the main thread, an orchestrator thread). Never call it from a task.
public func blockingWait<Value: Sendable>(_ work: @escaping @Sendable () async throws -> Value) throws -> Value {
    let outcome = Outcome<Value>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { outcome.result = .success(try await work()) } catch { outcome.result = .failure(error) }
        done.signal()
    }
    done.wait()
    return try outcome.result!.get()
}

/// What the task of ``blockingWait(_:)`` ended with: written before it signals, read after the wait.
private final class Outcome<Value>: @unchecked Sendable {
    var result: Result<Value, any Error>?
}

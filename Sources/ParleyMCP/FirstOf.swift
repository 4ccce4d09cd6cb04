import Synchronization

/// The first of several racing offers: `value()` waits for it; later offers are ignored. Thread-safe.
final class FirstOf<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, Error>)
        case offered(Value)
        /// Taken, or the waiter was cancelled: later offers are ignored.
        case done
    }

    private let state = Mutex<State>(.empty)

    /// Offers `value`; only the first offer counts.
    func offer(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, Error>? in
            switch state {
            case .empty:
                state = .offered(value)
                return nil
            case .waiting(let continuation):
                state = .done
                return continuation
            case .offered, .done:
                return nil
            }
        }
        waiter?.resume(returning: value)
    }

    /// The first value offered (call once). Throws `CancellationError` when the waiting task is cancelled first.
    func value() async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<Value, Error>? in
                    switch state {
                    case .offered(let value):
                        state = .done
                        return .success(value)
                    case .empty where Task.isCancelled:
                        state = .done
                        return .failure(CancellationError())
                    case .empty:
                        state = .waiting(continuation)
                        return nil
                    case .waiting, .done:
                        preconditionFailure("FirstOf.value() is called once")
                    }
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Value, Error>? in
                guard case .waiting(let continuation) = state else { return nil }
                state = .done
                return continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

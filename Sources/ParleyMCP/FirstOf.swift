import Synchronization

/// The first of several racing offers: `value()` waits for it; later offers are ignored. Thread-safe.
final class FirstOf<Value: Sendable>: Sendable {
    private enum State {
        case empty
        case waiting(CheckedContinuation<Value, Never>)
        case offered(Value)
        case taken
    }

    private let state = Mutex<State>(.empty)

    /// Offers `value`; only the first offer counts.
    func offer(_ value: Value) {
        let waiter = state.withLock { state -> CheckedContinuation<Value, Never>? in
            switch state {
            case .empty:
                state = .offered(value)
                return nil
            case .waiting(let continuation):
                state = .taken
                return continuation
            case .offered, .taken:
                return nil
            }
        }
        waiter?.resume(returning: value)
    }

    /// The first value offered (call once).
    func value() async -> Value {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> Value? in
                if case .offered(let value) = state {
                    state = .taken
                    return value
                }
                state = .waiting(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

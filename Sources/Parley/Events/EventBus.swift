import Synchronization

/// The SDK's local, game-style event dispatcher: handlers registered per event name run as a chain,
/// highest priority first.
///
/// Pure Swift, no I/O. All state sits behind a mutex that is never held while a handler, the unhandled
/// hook or the failure reporter runs, so handlers may call back into the bus (register, remove, dispatch).
/// Nothing here blocks a thread: waiting is always `await`.
///
/// ```swift
/// let bus = EventBus()
/// bus.on(BuiltInEvent.taskStart, priority: 10) { event in
///     let task: TaskInfo = try event.decode()
///     return try .pass(task.id)
/// }
/// let report = await bus.dispatch(EventContext(name: BuiltInEvent.taskStart, source: "worker-1", data: bytes))
/// ```
public final class EventBus: Sendable {
    private struct Registration: Sendable {
        let token: HandlerToken
        let priority: Int
        let once: Bool
        let timeout: Duration
        let handler: EventHandler
    }

    private struct State: Sendable {
        var nextID: UInt64 = 1
        /// Per event name, sorted by priority (higher first), then registration order.
        var handlers: [String: [Registration]] = [:]
        var unhandledCount = 0
        var unhandledHook: (@Sendable (EventContext) async -> Void)?
        var failureReporter: (@Sendable (HandlerFailure) async -> Void)?
    }

    /// The time limit of handlers registered without their own.
    public let defaultTimeout: Duration
    private let state = Mutex(State())
    /// Handlers registered for any event, kept beside the lock so that a bus without handlers answers
    /// `handlerCount(for:)` without taking it (the SDK asks on every request).
    private let registrations = Atomic<Int>(0)

    /// Makes an empty bus.
    /// - Parameter defaultTimeout: the time limit of handlers registered without their own; a non-positive
    ///   value means the standard 5 seconds.
    public init(defaultTimeout: Duration = .seconds(5)) {
        self.defaultTimeout = defaultTimeout > .zero ? defaultTimeout : .seconds(5)
    }

    /// Whether `name` is a valid event name: 1–64 of `A–Z a–z 0–9 _ -` (no `.`, which separates the parts
    /// of event topics). Handlers registered for an invalid name never run, since events with such names
    /// cannot be published.
    public static func isValidEventName(_ name: String) -> Bool {
        Names.eventProblem(name) == nil
    }

    /// Registers a handler for an event.
    ///
    /// When `event` is not a valid name (see ``isValidEventName(_:)``) nothing is registered: the returned token
    /// is unique but matches no handler, and ``handlerCount(for:)`` stays 0.
    /// - Parameters:
    ///   - event: the event name.
    ///   - priority: higher runs first; equal priorities run in registration order.
    ///   - once: remove the handler when it runs for the first time. It runs at most once even when events are
    ///     dispatched concurrently; a chain stopped before reaching it leaves it registered.
    ///   - timeout: how long the handler may run before it is cancelled and recorded as timed out;
    ///     nil or a non-positive value means the bus's ``defaultTimeout``.
    ///   - handler: the handler.
    /// - Returns: the token that ``off(_:)`` takes.
    @discardableResult
    public func on(
        _ event: String, priority: Int = 0, once: Bool = false, timeout: Duration? = nil,
        _ handler: @escaping EventHandler
    ) -> HandlerToken {
        let limit = timeout.flatMap { $0 > .zero ? $0 : nil } ?? defaultTimeout
        let valid = Self.isValidEventName(event)
        return state.withLock { state in
            let token = HandlerToken(event: event, id: state.nextID)
            state.nextID += 1
            guard valid else { return token }
            let registration = Registration(token: token, priority: priority, once: once, timeout: limit, handler: handler)
            var list = state.handlers[event, default: []]
            let index = list.firstIndex { $0.priority < priority } ?? list.endIndex
            list.insert(registration, at: index)
            state.handlers[event] = list
            registrations.add(1, ordering: .relaxed)
            return token
        }
    }

    /// Removes a handler. Removing one twice, or one that already ran as a once-handler, is harmless.
    /// A dispatch in progress does not start the handler after this returns (one already running finishes).
    public func off(_ token: HandlerToken) {
        state.withLock { state in
            guard var list = state.handlers[token.event] else { return }
            let before = list.count
            list.removeAll { $0.token == token }
            registrations.subtract(before - list.count, ordering: .relaxed)
            state.handlers[token.event] = list.isEmpty ? nil : list
        }
    }

    /// Sets the hook that runs (awaited by ``dispatch(_:)``) for each event no handler ran for.
    /// Replaces the previous hook.
    public func onUnhandled(_ hook: @escaping @Sendable (EventContext) async -> Void) {
        state.withLock { $0.unhandledHook = hook }
    }

    /// Sets the reporter called (awaited by ``dispatch(_:)``, after the chain) for each handler failure of an
    /// event other than ``BuiltInEvent/error``; the Agent uses it to raise an `on_error` event. Failures of
    /// `on_error` handlers are not reported, so that an error cannot loop. Replaces the previous reporter.
    public func onFailure(_ reporter: @escaping @Sendable (HandlerFailure) async -> Void) {
        state.withLock { $0.failureReporter = reporter }
    }

    /// How many events were dispatched with no handler to run.
    public var unhandledCount: Int {
        state.withLock { $0.unhandledCount }
    }

    /// How many handlers are registered for `event`.
    public func handlerCount(for event: String) -> Int {
        guard registrations.load(ordering: .relaxed) > 0 else { return 0 }
        return state.withLock { $0.handlers[event]?.count ?? 0 }
    }

    /// Runs the handlers registered for `context.name` as a chain, and reports what happened.
    ///
    /// - Handlers run one after another in priority order (higher first; equal priorities in registration order).
    /// - Each handler gets, as ``EventContext/value``, the value the previous one passed with `.pass`
    ///   (the context's own value for the first); `.next` keeps the value as it is.
    /// - `.stop` ends the chain: later handlers do not run and ``DispatchReport/stopped`` is true.
    /// - A handler that throws, or runs longer than its timeout (it is then cancelled), is recorded in
    ///   ``DispatchReport/failures`` and does not stop the others: the chain continues with the value unchanged.
    ///   Unless the event is ``BuiltInEvent/error``, each failure also goes to the reporter set with ``onFailure(_:)``.
    /// - A once-handler is removed just before it runs, so a concurrent dispatch cannot run it twice.
    /// - The chain is the handlers registered when the dispatch starts; one removed with ``off(_:)`` meanwhile
    ///   is skipped. Handlers registered meanwhile wait for the next dispatch.
    /// - When no handler runs, ``unhandledCount`` goes up by one, the hook set with ``onUnhandled(_:)`` runs,
    ///   and ``DispatchReport/unhandled`` is true.
    /// - When the calling task is cancelled, the running handler is cancelled and recorded as a failure (not
    ///   reported to the failure reporter), and the rest of the chain does not run.
    public func dispatch(_ context: EventContext) async -> DispatchReport {
        let chain = state.withLock { $0.handlers[context.name] ?? [] }
        var report = DispatchReport(value: context.value)
        var reportable: [HandlerFailure] = []
        var started = 0
        var cancelled = false

        for registration in chain {
            if Task.isCancelled {
                cancelled = true
                break
            }
            guard claim(registration) else { continue }
            started += 1
            var event = context
            event.value = report.value
            let token = registration.token
            switch await runHandler(registration.handler, context: event, timeout: registration.timeout) {
            case .finished(.next):
                report.handled += 1
            case .finished(.pass(let value)):
                report.handled += 1
                report.value = value
            case .finished(.stop):
                report.handled += 1
                report.stopped = true
            case .threw(let reason):
                let failure = HandlerFailure(event: context.name, handler: token, reason: reason, timedOut: false)
                report.failures.append(failure)
                reportable.append(failure)
            case .timedOut:
                let failure = HandlerFailure(
                    event: context.name, handler: token, reason: "timed out after \(registration.timeout)", timedOut: true)
                report.failures.append(failure)
                reportable.append(failure)
            case .cancelled:
                report.failures.append(
                    HandlerFailure(event: context.name, handler: token, reason: "cancelled: the dispatch was cancelled", timedOut: false))
                cancelled = true
            }
            if report.stopped || cancelled { break }
        }

        if started == 0 && !cancelled {
            report.unhandled = true
            let hook = state.withLock { state in
                state.unhandledCount += 1
                return state.unhandledHook
            }
            await hook?(context)
        }
        if context.name != BuiltInEvent.error, !reportable.isEmpty,
           let reporter = state.withLock({ $0.failureReporter }) {
            for failure in reportable { await reporter(failure) }
        }
        return report
    }

    /// Whether `registration` may run now: it is still registered, and a once-handler is removed here,
    /// under the lock, so exactly one dispatch gets it.
    private func claim(_ registration: Registration) -> Bool {
        state.withLock { state in
            let event = registration.token.event
            guard var list = state.handlers[event],
                  let index = list.firstIndex(where: { $0.token == registration.token }) else { return false }
            if registration.once {
                list.remove(at: index)
                registrations.subtract(1, ordering: .relaxed)
                state.handlers[event] = list.isEmpty ? nil : list
            }
            return true
        }
    }
}

/// What a handler tells the chain.
public enum HandlerResult: Sendable {
    /// Continue with the next handler; the value passed along stays as it is.
    case next
    /// Continue with the next handler, giving it these bytes as its `value`.
    case pass([UInt8])
    /// End the chain: handlers with a lower priority (or registered later) do not run.
    case stop

    /// Continue with the next handler, giving it `value` encoded as JSON.
    ///
    /// A value typed `[UInt8]` selects the `.pass([UInt8])` case (raw bytes, not encoded); an untyped array
    /// literal such as `[7]` is an `[Int]` and lands here (write `[7] as [UInt8]` for raw bytes).
    /// - Throws: ``ParleyError/payload(_:)`` when `value` cannot be encoded.
    public static func pass<T: Encodable>(_ value: T) throws -> HandlerResult {
        .pass(try JSONPayload.encode(value))
    }
}

/// A handler on an ``EventBus``: it gets the event and says how the chain goes on.
/// Throwing counts as a failure of this handler only; the chain continues.
public typealias EventHandler = @Sendable (EventContext) async throws -> HandlerResult

/// Identifies one registration on an ``EventBus``; give it to ``EventBus/off(_:)`` to remove the handler.
public struct HandlerToken: Hashable, Sendable, CustomStringConvertible {
    /// The event name the handler was registered for.
    public let event: String
    let id: UInt64

    init(event: String, id: UInt64) {
        self.event = event
        self.id = id
    }

    /// For example `handler #3 for on_task_start`.
    public var description: String { "handler #\(id) for \(event)" }
}

/// The outcome of dispatching one event.
public struct DispatchReport: Sendable {
    /// Handlers that ran to completion (returned ``HandlerResult/next``, `.pass`
    /// or ``HandlerResult/stop``).
    public var handled: Int
    /// A handler returned ``HandlerResult/stop``.
    public var stopped: Bool
    /// Handlers that threw or timed out, in the order they ran.
    public var failures: [HandlerFailure]
    /// The last value passed along the chain (the context's own `value` when no handler passed one).
    public var value: [UInt8]?
    /// No handler ran for the event: none was registered (or the only ones were once-handlers that a
    /// concurrent dispatch ran first). The unhandled hook ran and ``EventBus/unhandledCount`` went up.
    public var unhandled: Bool

    /// Makes a report.
    public init(handled: Int = 0, stopped: Bool = false, failures: [HandlerFailure] = [], value: [UInt8]? = nil, unhandled: Bool = false) {
        self.handled = handled
        self.stopped = stopped
        self.failures = failures
        self.value = value
        self.unhandled = unhandled
    }
}

/// A handler that threw or exceeded its timeout.
public struct HandlerFailure: Sendable, Error, CustomStringConvertible {
    /// The event being dispatched.
    public var event: String
    /// The handler that failed.
    public var handler: HandlerToken
    /// What went wrong: the thrown error's description, or the timeout that was exceeded.
    public var reason: String
    /// The handler exceeded its timeout (it was cancelled, and the chain went on without it).
    public var timedOut: Bool

    /// Makes a failure record.
    public init(event: String, handler: HandlerToken, reason: String, timedOut: Bool) {
        self.event = event
        self.handler = handler
        self.reason = reason
        self.timedOut = timedOut
    }

    /// For example `handler #3 for on_task_start failed: timed out after 0.1 seconds`.
    public var description: String { "\(handler) failed: \(reason)" }
}

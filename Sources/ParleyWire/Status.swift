/// The outcome of a request, carried in REPLY, RESULT and ERROR headers as one byte.
///
/// Every request accepted by the broker ends in exactly one of these, delivered to its requester.
public enum Status: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// The handler answered; the body is the answer.
    case ok = 0
    /// The handler chose not to help; the body says why.
    case declined = 1
    /// The handler tried and failed; the body says why.
    case failed = 2
    /// The deadline passed before an answer arrived.
    case timeout = 3
    /// No agent matches the target.
    case noRoute = 4
    /// The caller may not make this call (for example, a direct call into another layer).
    case unauthorized = 5
    /// Too much work is pending for the caller or the target.
    case overloaded = 6
    /// The message was malformed or breaks a protocol rule.
    case badRequest = 7
    /// The broker (or the agent's registration) is not available: register again and retry.
    case unavailable = 8
    /// The requester cancelled the request.
    case cancelled = 9

    /// The upper-case name used in the protocol document and in logs, e.g. `NO_ROUTE`.
    public var description: String {
        switch self {
        case .ok: "OK"
        case .declined: "DECLINED"
        case .failed: "FAILED"
        case .timeout: "TIMEOUT"
        case .noRoute: "NO_ROUTE"
        case .unauthorized: "UNAUTHORIZED"
        case .overloaded: "OVERLOADED"
        case .badRequest: "BAD_REQUEST"
        case .unavailable: "UNAVAILABLE"
        case .cancelled: "CANCELLED"
        }
    }

    /// Whether a handler may answer with this status in a REPLY (the others are the broker's to give).
    public var isHandlerStatus: Bool { self == .ok || self == .declined || self == .failed }
}

/// What a request asks for. The broker routes every kind the same way; handlers may treat them differently.
public enum RequestKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Ask for help with a problem.
    case help = 1
    /// Ask for clarification of a question.
    case clarification = 2
    /// One leg of a coordination: the same task sent to several agents.
    case coordinate = 3
    /// A generic call (used for cross-layer callbacks).
    case call = 4

    /// The lower-case name used in documents and logs.
    public var description: String {
        switch self {
        case .help: "help"
        case .clarification: "clarification"
        case .coordinate: "coordinate"
        case .call: "call"
        }
    }
}

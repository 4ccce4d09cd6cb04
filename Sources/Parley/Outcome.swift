/// The one outcome of a request, as the requester sees it.
public struct Outcome: Sendable {
    /// OK, or why not.
    public var status: Status
    /// The answer (OK), the handler's reason (DECLINED, FAILED) or the broker's reason (the rest), as bytes.
    public var body: [UInt8]
    /// How many deliveries the broker made (the handler saw attempt numbers 1 … attempts).
    public var attempts: Int

    /// An outcome with `status`, `body` and the number of deliveries made (`attempts`).
    public init(status: Status, body: [UInt8], attempts: Int) {
        self.status = status
        self.body = body
        self.attempts = attempts
    }

    /// The body as UTF-8 text (for reasons and logs).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// A call the requester cancelled before any server had it, or whose server no longer knows it.
    static var cancelledLocally: Outcome { Outcome(status: .cancelled, body: Array("cancelled by the requester".utf8), attempts: 0) }
}

/// Errors the SDK throws.
public enum ParleyError: Error, Sendable, CustomStringConvertible {
    /// The request ended with a status other than OK.
    case outcome(Status, reason: String)
    /// The agent configuration breaks a naming rule.
    case invalidConfiguration(String)
    /// The broker refused the registration (for example, the id is held by another live agent).
    case registrationRefused(Status, reason: String)
    /// No WELCOME arrived in time.
    case brokerUnreachable(endpoint: String)
    /// The connection's security handshake failed: CURVE required or not used by the server, the client's key
    /// refused, or a wrong server key.
    case handshakeFailed(endpoint: String, reason: String)
    /// The agent is not connected (not yet, or closed).
    case notConnected
    /// A payload could not be encoded or decoded.
    case payload(String)

    public var description: String {
        switch self {
        case .outcome(let status, let reason): "\(status): \(reason)"
        case .invalidConfiguration(let problem): "invalid agent configuration: \(problem)"
        case .registrationRefused(let status, let reason): "registration refused (\(status)): \(reason)"
        case .brokerUnreachable(let endpoint): "no answer from a broker at \(endpoint)"
        case .handshakeFailed(let endpoint, let reason): "cannot connect to \(endpoint): \(reason)"
        case .notConnected: "the agent is not connected"
        case .payload(let problem): "payload: \(problem)"
        }
    }
}

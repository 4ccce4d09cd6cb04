import ParleyWire
import ZeroMQ

/// A decision waiting for its audit record: what it does once the record is written.
enum AwaitingAudit {
    /// Allowed: the FORWARD for the call with the gateway's callback id (already in `forwards`).
    case forward(CallbackID, BackOutbound)
    /// Denied: the refusal to send the caller.
    case refusal(peer: PeerID, callbackID: CallbackID, status: Status, reason: String)
}

/// Failing closed on the audit trail: a decision takes effect only once its record is written.
extension GatewayCore {
    /// What a caller gets when its call's audit record cannot be written.
    static let auditUnavailable = "the gateway cannot write its audit trail; retry later"

    /// The records in `audit` were written (`written`), or could not be: their decisions take effect, or their
    /// calls end with RESULT UNAVAILABLE (nothing is forwarded). Empties `audit`.
    public mutating func settleAudit(written: Bool) {
        audit.removeAll(keepingCapacity: true)
        for decision in awaitingAudit {
            switch decision {
            case .forward(let id, let outbound):
                if written {
                    backOutbox.append(outbound)
                } else if let record = forwards.removeValue(forKey: id) {
                    answer(record, status: .unavailable, body: .text(Self.auditUnavailable))
                }
            case .refusal(let peer, let callbackID, let status, let reason):
                refuse(peer, status: written ? status : .unavailable, command: CommandCode.request.rawValue, callbackID: callbackID,
                       reason: written ? reason : Self.auditUnavailable)
            }
        }
        awaitingAudit.removeAll(keepingCapacity: true)
    }
}

import ParleyWire
import ZeroMQ

/// The broker side: registration, outcomes and progress of forwarded calls.
extension GatewayCore {
    /// Handles one decoded message from the broker.
    public mutating func handleBack(_ header: Header, body: Message?, now: UInt64) {
        latestNow = max(latestNow, now)
        switch header {
        case .welcome(let welcome):
            backendRegistered = true
            brokerHeartbeatMilliseconds = UInt64(welcome.heartbeatMilliseconds)
        case .bye:
            backendLost(cause: "the broker said BYE")
            backendConnected()
        case .result(let result):
            guard let record = forwards.removeValue(forKey: result.callbackID) else { return }
            answer(record, status: result.status, attempts: result.attempts, body: body.map { .payload($0) } ?? .none)
        case .extended(let extended):
            guard var record = forwards[extended.callbackID] else { return }
            record.deadline = now + UInt64(extended.timeoutMilliseconds)
            record.giveUpAt = record.deadline + configuration.graceMilliseconds
            forwards[extended.callbackID] = record
            guard let caller = callers[record.caller] else { return }
            frontOutbox.append(send(caller.peer, .extended(Extended(callbackID: record.callerCallbackID,
                                                                    timeoutMilliseconds: extended.timeoutMilliseconds)),
                                    body.map { .payload($0) } ?? .none))
        case .error(let notice):
            if notice.command == CommandCode.gatewayHello.rawValue {
                let reason = body.map { $0.string } ?? ""
                notices.append("the broker refused the gateway's registration (\(notice.status)): \(reason)")
                return
            }
            guard notice.callbackID != .none, let record = forwards.removeValue(forKey: notice.callbackID) else { return }
            answer(record, status: notice.status, body: body.map { .payload($0) } ?? .none)
        default:
            break
        }
    }

    /// The broker left (BYE) or stopped answering (`cause` says which): calls in flight end with UNAVAILABLE at
    /// once, since their outcome will not come (the broker may or may not have run them); new calls get
    /// UNAVAILABLE until the gateway registers again. A loss of a registration sets `brokerLoss`.
    public mutating func backendLost(cause: String) {
        if backendRegistered { brokerLoss = BrokerLoss(cause: cause, endedCalls: forwards.count) }
        backendRegistered = false
        endForwards("the gateway lost the broker (\(cause)) before the outcome; the call may or may not have run")
    }

    /// A FORWARD the gateway could not queue for the broker (its queue to the broker is full: the broker does not
    /// keep up, or is unreachable): the call ends OVERLOADED with attempts 0 (it did not run; the caller may retry).
    public mutating func forwardNotQueued(_ callbackID: CallbackID) {
        guard let record = forwards.removeValue(forKey: callbackID) else { return }
        answer(record, status: .overloaded, body: .text("the gateway's queue to the broker is full; retry later"))
    }

    /// Ends every forwarded call with UNAVAILABLE `reason`; returns their gateway callback ids.
    @discardableResult
    /// Ends every forwarded call UNAVAILABLE with attempts 1: it reached the broker and may have run, so the outcome
    /// is final for the caller (PROTOCOL.md §11 rule 11), not a refusal it may retry. Returns their callback ids.
    mutating func endForwards(_ reason: String) -> [CallbackID] {
        let ended = Array(forwards.keys)
        for record in forwards.values { answer(record, status: .unavailable, attempts: 1, body: .text(reason)) }
        forwards.removeAll()
        return ended
    }
}

/// The gateway lost its registration with the broker.
public struct BrokerLoss: Sendable {
    /// Why, in words ("the broker said BYE", "no message from the broker for 600 ms").
    public var cause: String
    /// Calls in flight it ended with UNAVAILABLE.
    public var endedCalls: Int
}

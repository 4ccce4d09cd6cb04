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
            // Calls forwarded before a reconnect go again with the same ids (the broker de-duplicates),
            // with the time they have left.
            for record in forwards.values where record.deadline > now {
                var forward = record.forward
                forward.request.timeoutMilliseconds = UInt32(clamping: record.deadline - now)
                backOutbox.append(BackOutbound(header: .forward(forward), body: record.body.map { .payload($0.share()) } ?? .none))
            }
        case .bye:
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

    /// The broker stopped answering: calls in flight wait for their deadline (they are resent after the
    /// gateway registers again); new calls get UNAVAILABLE until then.
    public mutating func backendLost() {
        backendRegistered = false
    }
}

import ParleyWire

/// What the server sends: on the DEALER (`receive`) and on the events socket (`receiveLive`).
extension AgentCore {
    /// A message from the server on the DEALER: the header frame and the body (empty when there is none).
    mutating func receive(header bytes: UnsafeRawBufferPointer, body: [UInt8], now: UInt64) {
        lastHeard = now
        let header: Header
        do {
            header = try HeaderDecoder.decode(bytes)
        } catch {
            logger.warning("undecodable message from the \(target.name)", metadata: ["error": "\(error)"])
            return
        }
        if let pending = held {
            held = nil
            if header != .bye { complete(pending) }
        }
        switch header {
        case .welcome(let welcome):
            table.replaysLost()
            welcomed(welcome, now: now)
        case .bye:
            // The session is over: a held UNAVAILABLE meant "not registered", and deliveries are void (the broker
            // delivers them again, with new ids, if they still matter).
            setRegistered(false)
            voidDeliveries()
            sendHello(now: now)
        case .result(let result):
            let outcome = Outcome(status: result.status, body: body, attempts: Int(result.attempts))
            if result.status == .unavailable, result.attempts == 0 {
                held = HeldResult(callbackID: result.callbackID, outcome: outcome, since: now)
            } else if let call = calls.removeValue(forKey: result.callbackID) {
                effects.append(.finishCall(call.waiter, outcome))
            }
        case .extended(let extended):
            guard var call = calls[extended.callbackID] else { return }
            call.brokerDeadline = now + UInt64(extended.timeoutMilliseconds)
            call.timerAt = call.brokerDeadline
            calls[extended.callbackID] = call
            schedule(.call(extended.callbackID), at: call.timerAt)
        case .deliver(let deliver):
            // The same delivery again (a resent DELIVER): the running handler answers it once.
            guard deliveries.insert(deliver.deliveryID).inserted else { return }
            effects.append(.serve(deliver, body: body))
        case .revoke(let deliveryID):
            if deliveries.remove(deliveryID) != nil { effects.append(.revoke(deliveryID: deliveryID)) }
        case .error(let notice):
            if notice.command == CommandCode.replay.rawValue { table.replaysLost() }
            refused(notice, reason: String(decoding: body, as: UTF8.self), now: now)
        case .confirm(let confirm):
            confirmed(confirm)
        case .confirms(let batch):
            for confirm in batch.confirms { confirmed(confirm) }
        case .event(let event):
            send(table.receive(ReceivedEvent(event, data: body, replayed: true)))
        case .gap(let gap):
            send(table.receive(gap))
        case .replayEnd(let end):
            send(table.receive(end))
        case .heartbeat, .statusReply, .admin, .adminReply, .hello, .request, .progress, .cancel, .reply, .status, .publish, .replay, .beacon,
             .gatewayHello, .forward:
            break
        }
    }

    /// The broker stamped one of this agent's events: its publish call ends (unless it already gave up).
    private mutating func confirmed(_ confirm: Confirm) {
        if let pending = publishes.removeValue(forKey: confirm.eventID) {
            effects.append(.finishPublish(pending.waiter, .success(confirm)))
        }
    }

    /// A message from the events socket: an EVENT or BEACON header and its body (the topic frame is not needed).
    mutating func receiveLive(header bytes: UnsafeRawBufferPointer, body: [UInt8], now: UInt64) {
        switch try? HeaderDecoder.decode(bytes) {
        case .event(let event):
            send(table.receive(ReceivedEvent(event, data: body, replayed: false)))
        case .beacon(let beacon):
            send(table.receive(beacon))
        default:
            logger.warning("malformed message on the events socket", metadata: ["bytes": .stringConvertible(bytes.count)])
        }
    }

    private mutating func welcomed(_ welcome: Welcome, now: UInt64) {
        setRegistered(true)
        refusal = nil
        welcomes += 1
        if welcomes == 1 {
            effects.append(.registered)
        } else {
            // A new session: deliveries of the previous one are void.
            voidDeliveries()
        }
        heartbeatMilliseconds = UInt64(max(welcome.heartbeatMilliseconds, 10))
        liveness = UInt64(max(welcome.liveness, 1))
        // Resend every open call and unconfirmed event with the same ids: the server de-duplicates.
        // A cancelled call goes again too, then its CANCEL: a server that lost it would otherwise never end it.
        for (callbackID, call) in calls {
            var request = call.request
            request.timeoutMilliseconds = UInt32(clamping: call.brokerDeadline > now ? call.brokerDeadline - now : 1)
            send(.request(request), body: call.body, now: now)
            if call.cancelling { send(.cancel(callbackID), now: now) }
            calls[callbackID]?.sent = true
        }
        for pending in publishes.values { send(.publish(pending.publish), body: pending.body, now: now) }
    }

    private mutating func refused(_ notice: ErrorNotice, reason: String, now: UInt64) {
        if notice.command == CommandCode.hello.rawValue, hello.features != nil, notice.status == .badRequest,
           reason.contains("unexpected bytes after the last header field") {
            // A server of protocol revision 1.0 knows no features byte: register as a 1.0 agent (plain CONFIRMs).
            logger.info("the \(target.name) speaks protocol revision 1.0; registering without 1.1 features")
            hello.features = nil
            return sendHello(now: now)
        }
        if notice.command == CommandCode.hello.rawValue {
            let detail = "the \(target.name) refused the registration: \(reason)"
            refusal = Outcome(status: notice.status, body: Array(detail.utf8), attempts: 0)
            // A background link (the gateway) keeps trying: the refusal may pass (an old session of the same id
            // timing out); calls still waiting at their deadline end with it.
            guard welcomes == 0, connectDeadline != nil else {
                logger.warning("registration refused; retrying", metadata: ["agent": "\(hello.agentID)", "reason": "\(reason)"])
                return
            }
            logger.error("registration refused", metadata: ["agent": "\(hello.agentID)", "reason": "\(reason)"])
            finish(.registrationRefused(notice.status, reason: reason))
            return
        }
        guard notice.callbackID != .none else {
            logger.warning("\(target.name) error", metadata: ["status": "\(notice.status)", "reason": "\(reason)"])
            return
        }
        if let call = calls.removeValue(forKey: notice.callbackID) {
            // A CANCEL the server no longer has a request for: nothing there runs it, so the cancellation holds.
            let cancelled = call.cancelling && notice.command == CommandCode.cancel.rawValue
            effects.append(.finishCall(call.waiter, cancelled ? .cancelledLocally
                                                              : Outcome(status: notice.status, body: Array(reason.utf8), attempts: 0)))
        } else if let pending = publishes.removeValue(forKey: notice.callbackID) {
            effects.append(.finishPublish(pending.waiter, .failure(.outcome(notice.status, reason: reason))))
        }
    }

    /// Ends a held RESULT as its call's outcome, unless the call already ended.
    mutating func complete(_ pending: HeldResult) {
        if let call = calls.removeValue(forKey: pending.callbackID) { effects.append(.finishCall(call.waiter, pending.outcome)) }
    }
}

extension ReceivedEvent {
    init(_ header: EventHeader, data: [UInt8], replayed: Bool) {
        self.init(topic: header.topic, sequence: header.sequence, timestamp: header.timestamp, eventID: header.eventID,
                  contentType: header.contentType, data: data, replayed: replayed)
    }
}

/// Time: heartbeats, silence, the registration deadline, held results, periodic syncs, and the deadlines of
/// calls and publishes, which sit in one heap (no scan of all calls per turn).
extension AgentCore {
    /// Runs what is due at `now`.
    mutating func tick(now: UInt64) {
        if !registered, let deadline = connectDeadline, now >= deadline {
            finish(.brokerUnreachable(endpoint: target.endpoint))
            return
        }
        if now &- lastHeard > heartbeatMilliseconds * liveness, now &- lastHello > heartbeatMilliseconds * liveness {
            // The server went silent: start over on fresh sockets and register again.
            if welcomes == 0 {
                logger.info("no answer from the \(target.name) at \(target.endpoint) yet; trying again", metadata: ["agent": "\(hello.agentID)"])
            } else {
                logger.info("\(target.name) silent; reconnecting", metadata: ["agent": "\(hello.agentID)"])
            }
            setRegistered(false)
            table.replaysLost()
            effects.append(.reconnect)
        } else if now &- lastSent >= heartbeatMilliseconds {
            send(.heartbeat, now: now)
        }
        if let pending = held, now &- pending.since >= HeldResult.window {
            held = nil
            complete(pending)
        }
        while let due = timers.min, due.time <= now {
            timers.removeMin()
            fire(due.key, now: now)
        }
    }

    /// Every `syncInterval`, subscriptions to quiet topics ask the broker for what they may have missed (see
    /// `SequenceTracker.sync`). A consumer catching up after a backlog needs nothing more: the live events it reads
    /// again reveal the holes the broker's dropped copies left.
    mutating func syncSubscriptions(now: UInt64) {
        guard now &- lastSync >= Self.syncInterval else { return }
        lastSync = now
        send(table.syncAll())
    }

    /// How long the driver may wait for input before the next `tick`, in milliseconds.
    func wait(now: UInt64) -> UInt64 {
        var wait = min(Self.maximumWait, heartbeatMilliseconds - min(heartbeatMilliseconds, now &- lastSent))
        if let earliest = timers.min?.time { wait = min(wait, earliest &- min(earliest, now)) }
        if let pending = held { wait = min(wait, (pending.since + HeldResult.window) &- min(pending.since + HeldResult.window, now)) }
        wait = min(wait, (lastSync + Self.syncInterval) &- min(lastSync + Self.syncInterval, now))
        if !registered, let deadline = connectDeadline { wait = min(wait, deadline &- min(deadline, now)) }
        return wait
    }

    private mutating func fire(_ timer: Timer, now: UInt64) {
        switch timer {
        case .call(let callbackID):
            // Stale entries (the call ended, was extended, or is a newer call with the same id) are skipped.
            guard var call = calls[callbackID], call.timerAt <= now else { return }
            if registered, call.timerAt == call.brokerDeadline {
                // The broker answers TIMEOUT at its deadline: give it the grace before ending the call here.
                call.timerAt = call.brokerDeadline + Self.grace
                calls[callbackID] = call
                schedule(.call(callbackID), at: call.timerAt)
                return
            }
            calls[callbackID] = nil
            // Registered but silent: TIMEOUT; never registered (or lost): fail closed with UNAVAILABLE.
            let outcome = registered
                ? Outcome(status: .timeout, body: Array("no answer from the \(target.name) within the deadline".utf8), attempts: 0)
                : refusal ?? Outcome(status: .unavailable, body: Array("no connection to the \(target.name) at \(target.endpoint)".utf8), attempts: 0)
            effects.append(.finishCall(call.waiter, outcome))
        case .publish(let eventID):
            guard let pending = publishes[eventID], pending.deadline <= now else { return }
            publishes[eventID] = nil
            effects.append(.finishPublish(pending.waiter, .failure(.outcome(.timeout, reason: "no CONFIRM from the broker in time"))))
        }
    }
}

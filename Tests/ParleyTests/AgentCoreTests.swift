import Logging
@testable import Parley
import ParleyWire
import Testing

/// The agent core on its own: no sockets, no threads. Waiters are plain numbers; time is given in milliseconds.
@Suite("Agent core")
struct AgentCoreTests {
    typealias Core = AgentCore<Int, Int>

    static let configuration = AgentConfiguration(id: "asker", layer: "domain", capabilities: ["planning"])

    /// A core for the broker, started at time 0; `waits` when `connect()` waits for the registration.
    static func core(waits: Bool = true) -> Core {
        let hello = Hello(instance: 7, agentID: "asker", layer: "domain", capabilities: ["planning"])
        var core = Core(target: .broker(configuration), hello: hello, subscriptionBacklogLimit: 100,
                        connectTimeout: waits ? 10_000 : nil, now: 0, logger: Logger(label: "test"))
        _ = core.takeEffects()
        return core
    }

    static func welcome(heartbeat: UInt32 = 1_000) -> [UInt8] {
        HeaderEncoder.encode(.welcome(Welcome(heartbeatMilliseconds: heartbeat, liveness: 3, maxBodyBytes: 1 << 20)))
    }

    static func request(_ id: CallbackID, timeout: UInt32 = 1_000) -> Request {
        Request(callbackID: id, kind: .help, timeoutMilliseconds: timeout, target: .agent("helper"), contentType: "text/plain")
    }

    /// The headers the core asked to send.
    static func sent(_ effects: [Core.Effect]) -> [Header] {
        effects.compactMap { effect in
            if case .send(let header, _) = effect { return header }
            return nil
        }
    }

    /// The (waiter, outcome) pairs of the calls that ended.
    static func finished(_ effects: [Core.Effect]) -> [(Int, Outcome)] {
        effects.compactMap { effect in
            if case .finishCall(let waiter, let outcome) = effect { return (waiter, outcome) }
            return nil
        }
    }

    static let first = CallbackID(high: 1, low: 1)
    static let second = CallbackID(high: 2, low: 2)

    @Test("a call made before the WELCOME waits, then goes with the same callback id and the time it has left")
    func heldUntilWelcome() {
        var core = Self.core()
        core.submit(.call(Self.request(Self.first, timeout: 1_000), body: [1], waiter: 1), now: 0)
        #expect(Self.sent(core.takeEffects()).isEmpty)
        core.receive(header: Self.welcome(), body: [], now: 300)
        let effects = core.takeEffects()
        #expect(effects.contains { if case .registered = $0 { true } else { false } })
        #expect(Self.sent(effects) == [.request(Self.request(Self.first, timeout: 700))])
    }

    @Test("a second WELCOME resends every open call and unconfirmed publish with the same ids, and voids deliveries")
    func resendOnWelcome() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 5_000), body: [], waiter: 1), now: 0)
        let publish = Publish(eventID: Self.second, topic: Topic(agent: "asker", event: "done")!, contentType: "text/plain")
        core.submit(.publish(publish, body: [9], waiter: 2, timeoutMilliseconds: 5_000), now: 0)
        let deliver = Deliver(deliveryID: 77, callbackID: CallbackID(high: 3, low: 3), kind: .help, attempt: 1, timeoutMilliseconds: 1_000,
                              requester: "other", requesterLayer: "domain", contentType: "text/plain")
        core.receive(header: HeaderEncoder.encode(.deliver(deliver)), body: [], now: 0)
        _ = core.takeEffects()
        core.receive(header: Self.welcome(), body: [], now: 1_000)
        let effects = core.takeEffects()
        #expect(!effects.contains { if case .registered = $0 { true } else { false } })
        #expect(effects.contains { if case .revoke(77) = $0 { true } else { false } })
        #expect(Set(Self.sent(effects)) == [.request(Self.request(Self.first, timeout: 4_000)), .publish(publish)])
        // The void delivery's handler can no longer answer.
        core.submit(.reply(deliveryID: 77, .answer(bytes: [])), now: 1_001)
        #expect(Self.sent(core.takeEffects()).isEmpty)
    }

    @Test("registered, a call the broker never answers ends TIMEOUT after the deadline and the grace, not before")
    func expiryWhenRegistered() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100_000), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 1_000), body: [], waiter: 1), now: 0)
        _ = core.takeEffects()
        core.tick(now: 1_000)
        #expect(Self.finished(core.takeEffects()).isEmpty)
        core.tick(now: 1_000 + Core.grace - 1)
        #expect(Self.finished(core.takeEffects()).isEmpty)
        core.tick(now: 1_000 + Core.grace)
        let ended = Self.finished(core.takeEffects())
        #expect(ended.map(\.0) == [1])
        #expect(ended.first?.1.status == .timeout)
    }

    @Test("never registered, a call ends UNAVAILABLE at its deadline (fail closed)")
    func expiryWhenUnregistered() {
        var core = Self.core(waits: false)
        core.submit(.call(Self.request(Self.first, timeout: 1_000), body: [], waiter: 1), now: 0)
        core.tick(now: 999)
        #expect(Self.finished(core.takeEffects()).isEmpty)
        core.tick(now: 1_000)
        let ended = Self.finished(core.takeEffects())
        #expect(ended.first?.1.status == .unavailable)
        #expect(ended.first?.1.attempts == 0)
    }

    @Test("EXTENDED moves the deadline: the old timer no longer ends the call")
    func extendedDeadline() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100_000), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 1_000), body: [], waiter: 1), now: 0)
        core.receive(header: HeaderEncoder.encode(.extended(Extended(callbackID: Self.first, timeoutMilliseconds: 10_000))), body: [], now: 500)
        core.tick(now: 1_000 + Core.grace)
        #expect(Self.finished(core.takeEffects()).isEmpty)
        core.tick(now: 10_500 + Core.grace)
        #expect(Self.finished(core.takeEffects()).first?.1.status == .timeout)
    }

    @Test("a retry reuses the callback id: the REQUEST goes again with it, and the first try's timer does not end it")
    func retrySameCallbackID() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100_000), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 1_000), body: [], waiter: 1), now: 0)
        core.receive(header: HeaderEncoder.encode(.result(ResultHeader(callbackID: Self.first, status: .overloaded, attempts: 0))), body: [], now: 10)
        #expect(Self.finished(core.takeEffects()).first?.1.status == .overloaded)
        core.submit(.call(Self.request(Self.first, timeout: 5_000), body: [], waiter: 2), now: 100)
        #expect(Self.sent(core.takeEffects()) == [.request(Self.request(Self.first, timeout: 5_000))])
        core.tick(now: 1_000 + Core.grace)
        #expect(Self.finished(core.takeEffects()).isEmpty)
        core.receive(header: HeaderEncoder.encode(.result(ResultHeader(callbackID: Self.first, status: .ok, attempts: 1))), body: [4], now: 200)
        let ended = Self.finished(core.takeEffects())
        #expect(ended.map(\.0) == [2])
        #expect(ended.first?.1.body == [4])
    }

    @Test("a refused registration fails connect(), ends the core, and open calls end with the refusal")
    func refusedRegistration() {
        var core = Self.core()
        core.submit(.call(Self.request(Self.first), body: [], waiter: 1), now: 0)
        let notice = ErrorNotice(status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: .none)
        core.receive(header: HeaderEncoder.encode(.error(notice)), body: Array("id in use".utf8), now: 5)
        let effects = core.takeEffects()
        #expect(effects.contains { if case .registrationFailed(.registrationRefused(.unauthorized, "id in use")) = $0 { true } else { false } })
        #expect(core.isFinished)
        let ended = Self.finished(effects)
        #expect(ended.first?.1.status == .unauthorized)
        #expect(ended.first?.1.text.contains("id in use") == true)
    }

    @Test("a server of protocol revision 1.0 refusing the features byte: the core registers again without it, and stays up")
    func fallsBackToRevision10() {
        let hello = Hello(instance: 7, agentID: "asker", layer: "domain", capabilities: [], features: .confirmBatches)
        var core = Core(target: .broker(Self.configuration), hello: hello, subscriptionBacklogLimit: 100, connectTimeout: 10_000,
                        now: 0, logger: Logger(label: "test"))
        #expect(Self.sent(core.takeEffects()) == [.hello(hello)])
        let notice = ErrorNotice(status: .badRequest, command: CommandCode.hello.rawValue, callbackID: .none)
        core.receive(header: HeaderEncoder.encode(.error(notice)), body: Array("1 unexpected bytes after the last header field".utf8), now: 5)
        var plain = hello
        plain.features = nil
        #expect(Self.sent(core.takeEffects()) == [.hello(plain)])
        #expect(!core.isFinished)
        core.receive(header: Self.welcome(), body: [], now: 10)
        #expect(core.takeEffects().contains { if case .registered = $0 { true } else { false } })
        // The same refusal once the HELLO has no features byte is a refusal like any other.
        core.receive(header: HeaderEncoder.encode(.error(notice)), body: Array("1 unexpected bytes after the last header field".utf8), now: 20)
        #expect(Self.sent(core.takeEffects()).isEmpty)
    }

    @Test("a background link keeps trying after a refusal; its calls end with the refusal at their deadline")
    func refusedInBackground() {
        var core = Self.core(waits: false)
        core.submit(.call(Self.request(Self.first, timeout: 1_000), body: [], waiter: 1), now: 0)
        let notice = ErrorNotice(status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: .none)
        core.receive(header: HeaderEncoder.encode(.error(notice)), body: Array("no key".utf8), now: 5)
        #expect(!core.isFinished)
        #expect(Self.finished(core.takeEffects()).isEmpty)
        core.tick(now: 1_000)
        #expect(Self.finished(core.takeEffects()).first?.1.status == .unauthorized)
    }

    @Test("an ERROR about a call ends that call with its status and reason")
    func refusedCall() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        core.submit(.call(Self.request(Self.first), body: [], waiter: 1), now: 0)
        let notice = ErrorNotice(status: .noRoute, command: CommandCode.request.rawValue, callbackID: Self.first)
        core.receive(header: HeaderEncoder.encode(.error(notice)), body: Array("no agent 'helper'".utf8), now: 1)
        let ended = Self.finished(core.takeEffects())
        #expect(ended.first?.1.status == .noRoute)
        #expect(ended.first?.1.text == "no agent 'helper'")
    }

    @Test("CANCEL goes only for an open call; unsent, a cancelled call ends CANCELLED here")
    func cancellation() {
        var core = Self.core()
        core.submit(.cancel(Self.first), now: 0)
        #expect(core.takeEffects().isEmpty)
        core.submit(.call(Self.request(Self.first), body: [], waiter: 1), now: 0)
        core.submit(.cancel(Self.first), now: 1)
        let ended = Self.finished(core.takeEffects())
        #expect(ended.first?.1.status == .cancelled)
        core.receive(header: Self.welcome(), body: [], now: 2)
        #expect(Self.sent(core.takeEffects()).isEmpty)
        core.submit(.call(Self.request(Self.second), body: [], waiter: 2), now: 3)
        core.submit(.cancel(Self.second), now: 4)
        #expect(Self.sent(core.takeEffects()) == [.request(Self.request(Self.second)), .cancel(Self.second)])
    }

    @Test("a call cancelled while the link is down, after its REQUEST went: REQUEST and CANCEL go after WELCOME, the server ends it")
    func cancellationAcrossSessions() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 5_000), body: [], waiter: 1), now: 0)
        core.submit(.call(Self.request(Self.second, timeout: 5_000), body: [], waiter: 2), now: 0)
        _ = core.takeEffects()
        core.tick(now: 301)  // silent: the link goes, the session with it
        core.linkReplaced(now: 301)
        #expect(!core.registered)
        core.submit(.cancel(Self.first), now: 302)
        var effects = core.takeEffects()
        #expect(Self.finished(effects).isEmpty, "the server may be running it: not ended here")
        #expect(!Self.sent(effects).contains(.cancel(Self.first)))
        core.receive(header: Self.welcome(heartbeat: 100), body: [], now: 400)
        effects = core.takeEffects()
        let sent = Self.sent(effects)
        let request = sent.firstIndex(of: .request(Self.request(Self.first, timeout: 4_600)))
        let cancel = sent.firstIndex(of: .cancel(Self.first))
        #expect(request != nil && cancel != nil && request! < cancel!, "\(sent)")
        #expect(!sent.contains(.cancel(Self.second)))
        // A server that no longer knows the request refuses the CANCEL: nothing runs it, the cancellation holds.
        let unknown = ErrorNotice(status: .badRequest, command: CommandCode.cancel.rawValue, callbackID: Self.first)
        core.receive(header: HeaderEncoder.encode(.error(unknown)), body: Array("no request to cancel".utf8), now: 401)
        let ended = Self.finished(core.takeEffects())
        #expect(ended.count == 1 && ended.first?.0 == 1 && ended.first?.1.status == .cancelled)
    }

    @Test("a call resent after its deadline passed goes with 1 ms left, not a wrapped-around timeout")
    func resendPastDeadline() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 1_000), body: [], waiter: 1), now: 0)
        _ = core.takeEffects()
        core.receive(header: Self.welcome(heartbeat: 100), body: [], now: 1_050)  // a new session within the grace
        #expect(Self.sent(core.takeEffects()) == [.request(Self.request(Self.first, timeout: 1))])
    }

    @Test("serving: a delivery runs once, progress and the reply go while it is live, nothing after REVOKE")
    func servingWithProgress() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        let deliver = Deliver(deliveryID: 5, callbackID: Self.first, kind: .help, attempt: 1, timeoutMilliseconds: 1_000,
                              requester: "other", requesterLayer: "domain", contentType: "text/plain")
        core.receive(header: HeaderEncoder.encode(.deliver(deliver)), body: [1, 2], now: 1)
        core.receive(header: HeaderEncoder.encode(.deliver(deliver)), body: [1, 2], now: 2)
        let served = core.takeEffects().filter { if case .serve = $0 { true } else { false } }
        #expect(served.count == 1)
        core.submit(.progress(ProgressReport(deliveryID: 5, extendMilliseconds: 500), note: Array("half".utf8)), now: 3)
        core.submit(.reply(deliveryID: 5, .answer(bytes: [3])), now: 4)
        core.submit(.reply(deliveryID: 5, .answer(bytes: [3])), now: 5)
        #expect(Self.sent(core.takeEffects()) == [.progress(ProgressReport(deliveryID: 5, extendMilliseconds: 500)),
                                                  .reply(Reply(deliveryID: 5, status: .ok))])
        let other = Deliver(deliveryID: 6, callbackID: Self.second, kind: .help, attempt: 1, timeoutMilliseconds: 1_000,
                            requester: "other", requesterLayer: "domain", contentType: "text/plain")
        core.receive(header: HeaderEncoder.encode(.deliver(other)), body: [], now: 6)
        core.receive(header: HeaderEncoder.encode(.revoke(deliveryID: 6)), body: [], now: 7)
        #expect(core.takeEffects().contains { if case .revoke(6) = $0 { true } else { false } })
        core.submit(.reply(deliveryID: 6, .answer(bytes: [])), now: 8)
        core.submit(.progress(ProgressReport(deliveryID: 6, extendMilliseconds: 1), note: nil), now: 8)
        #expect(Self.sent(core.takeEffects()).isEmpty)
    }

    @Test("a handler answering a status that is not a handler's sends FAILED")
    func handlerStatusChecked() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        let deliver = Deliver(deliveryID: 5, callbackID: Self.first, kind: .help, attempt: 1, timeoutMilliseconds: 1_000,
                              requester: "other", requesterLayer: "domain", contentType: "text/plain")
        core.receive(header: HeaderEncoder.encode(.deliver(deliver)), body: [], now: 1)
        core.submit(.reply(deliveryID: 5, Response(status: .timeout, body: [])), now: 2)
        #expect(Self.sent(core.takeEffects()) == [.reply(Reply(deliveryID: 5, status: .failed))])
    }

    @Test("an UNAVAILABLE followed by BYE means not registered: the call stays open and goes again after WELCOME")
    func heldUnavailable() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 5_000), body: [], waiter: 1), now: 0)
        core.receive(header: HeaderEncoder.encode(.result(ResultHeader(callbackID: Self.first, status: .unavailable, attempts: 0))), body: [], now: 10)
        core.receive(header: HeaderEncoder.encode(.bye), body: [], now: 11)
        var effects = core.takeEffects()
        #expect(Self.finished(effects).isEmpty)
        #expect(Self.sent(effects).contains(.hello(core.hello)))
        core.receive(header: Self.welcome(), body: [], now: 20)
        effects = core.takeEffects()
        #expect(Self.sent(effects) == [.request(Self.request(Self.first, timeout: 4_980))])
    }

    @Test("an UNAVAILABLE with nothing after it ends the call once the window passes")
    func heldUnavailableAlone() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100_000), body: [], now: 0)
        core.submit(.call(Self.request(Self.first, timeout: 5_000), body: [], waiter: 1), now: 0)
        core.receive(header: HeaderEncoder.encode(.result(ResultHeader(callbackID: Self.first, status: .unavailable, attempts: 0))), body: [], now: 10)
        core.tick(now: 10 + HeldResult.window - 1)
        #expect(Self.finished(core.takeEffects()).isEmpty)
        core.tick(now: 10 + HeldResult.window)
        #expect(Self.finished(core.takeEffects()).first?.1.status == .unavailable)
    }

    @Test("a silent server: reconnect, then the fresh socket is subscribed again and HELLO goes")
    func silence() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100), body: [], now: 0)
        core.submit(.subscribe(id: 1, SubscriptionTable.Entry(selectors: [.agent("other")], start: .now, channel: NoticeChannel())), now: 0)
        _ = core.takeEffects()
        core.tick(now: 100)
        #expect(Self.sent(core.takeEffects()) == [.heartbeat])
        core.tick(now: 301)
        #expect(core.takeEffects().contains { if case .reconnect = $0 { true } else { false } })
        #expect(!core.registered)
        core.linkReplaced(now: 301)
        let effects = core.takeEffects()
        #expect(effects.contains { if case .subscribe(let prefix, true) = $0 { prefix == Array("callback.other.".utf8) } else { false } })
        #expect(Self.sent(effects) == [.hello(core.hello)])
    }

    static func liveEvent(_ sequence: UInt64) -> [UInt8] {
        HeaderEncoder.encode(.event(EventHeader(sequence: sequence, timestamp: 0, eventID: CallbackID(high: sequence, low: 1),
                                                topic: Topic(agent: "other", event: "tick")!, contentType: "text/plain")))
    }

    static func replays(_ effects: [Core.Effect]) -> [Replay] {
        sent(effects).compactMap { if case .replay(let replay) = $0 { replay } else { nil } }
    }

    @Test("a subscriber behind a flood asks for no open-ended replay while events arrive; a quiet topic asks later")
    func syncOnlyWhenQuiet() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 100_000), body: [], now: 0)
        let channel = NoticeChannel()
        core.submit(.subscribe(id: 1, SubscriptionTable.Entry(selectors: [.agent("other")], start: .now, channel: channel)), now: 0)
        _ = core.takeEffects()
        // Ten seconds of events arriving every 10 ms, far behind the broker's latest: no sync may overtake them
        // (the broker would answer the ones still on their way with a GAP).
        var sequence: UInt64 = 1
        for now in stride(from: UInt64(0), to: 10_000, by: 10) {
            Self.liveEvent(sequence).withUnsafeBytes { core.receiveLive(header: $0, body: [], now: now) }
            sequence += 1
            core.syncSubscriptions(now: now)
            #expect(Self.replays(core.takeEffects()).isEmpty)
        }
        // Quiet from now on: after one interval without events, the topic asks for what may follow.
        core.syncSubscriptions(now: 13_000)
        #expect(Self.replays(core.takeEffects()).isEmpty)
        core.syncSubscriptions(now: 16_000)
        #expect(Self.replays(core.takeEffects()) == [Replay(selector: .topic(Topic(agent: "other", event: "tick")!), from: sequence)])
        #expect(channel.backlog.load(ordering: .relaxed) == 1_000)
    }

    @Test("a hole asks for a replay up to the event that revealed it")
    func holeReplayIsBounded() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        core.submit(.subscribe(id: 1, SubscriptionTable.Entry(selectors: [.agent("other")], start: .now, channel: NoticeChannel())), now: 0)
        Self.liveEvent(1).withUnsafeBytes { core.receiveLive(header: $0, body: [], now: 1) }
        Self.liveEvent(5).withUnsafeBytes { core.receiveLive(header: $0, body: [], now: 2) }
        #expect(Self.replays(core.takeEffects()) == [Replay(selector: .topic(Topic(agent: "other", event: "tick")!), from: 2, to: 4)])
    }

    @Test("REPLAYs do not postpone the HEARTBEAT: the broker does not count them as a sign of life")
    func replaysKeepHeartbeats() {
        var core = Self.core()
        core.receive(header: Self.welcome(heartbeat: 1_000), body: [], now: 0)
        core.submit(.subscribe(id: 1, SubscriptionTable.Entry(selectors: [.agent("other")], start: .sequence(1), channel: NoticeChannel())), now: 900)
        #expect(Self.replays(core.takeEffects()).count == 1)
        core.tick(now: 1_000)
        #expect(Self.sent(core.takeEffects()).contains(.heartbeat))
    }

    @Test("no WELCOME within the connect timeout fails connect() with brokerUnreachable")
    func unreachable() {
        var core = Self.core()
        core.tick(now: 9_999)
        #expect(!core.isFinished)
        core.tick(now: 10_000)
        #expect(core.isFinished)
        #expect(core.takeEffects().contains { if case .registrationFailed(.brokerUnreachable) = $0 { true } else { false } })
    }

    @Test("timers of ended calls do not pile up: 100,000 answered calls leave a bounded heap")
    func timersBounded() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        for index in 0..<100_000 {
            let id = CallbackID(high: UInt64(index), low: 9)
            core.submit(.call(Self.request(id, timeout: 60_000), body: [], waiter: index), now: 0)
            core.receive(header: HeaderEncoder.encode(.result(ResultHeader(callbackID: id, status: .ok, attempts: 1))), body: [], now: 0)
            _ = core.takeEffects()
        }
        #expect(core.calls.isEmpty)
        #expect(core.timers.count <= 2_000)
    }

    @Test("closing ends every open call, publish and handler")
    func closing() {
        var core = Self.core()
        core.receive(header: Self.welcome(), body: [], now: 0)
        core.submit(.call(Self.request(Self.first), body: [], waiter: 1), now: 0)
        let publish = Publish(eventID: Self.second, topic: Topic(agent: "asker", event: "done")!, contentType: "text/plain")
        core.submit(.publish(publish, body: [], waiter: 2, timeoutMilliseconds: 1_000), now: 0)
        _ = core.takeEffects()
        core.close()
        let effects = core.takeEffects()
        #expect(Self.finished(effects).first?.1.status == .unavailable)
        #expect(effects.contains { if case .finishPublish(2, .failure(.notConnected)) = $0 { true } else { false } })
    }
}

extension AgentCore {
    /// The effects since the last call, in order.
    mutating func takeEffects() -> [Effect] {
        var taken: [Effect] = []
        takeEffects(into: &taken)
        return taken
    }

    /// Feeds an encoded header as the reactor does, from the bytes of a received frame.
    mutating func receive(header: [UInt8], body: [UInt8], now: UInt64) {
        header.withUnsafeBytes { receive(header: $0, body: body, now: now) }
    }
}

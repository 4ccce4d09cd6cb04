import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("PROGRESS extends deadlines; CANCEL withdraws requests")
struct ProgressAndCancelTests {
    private func progress(_ fixture: inout DeliveredRequest, extend: UInt32, note: TestPayload? = nil, from agent: Agent? = nil)
        -> [Outgoing] {
        fixture.broker.send(.progress(ProgressReport(deliveryID: fixture.deliver.deliveryID, extendMilliseconds: extend)), body: note,
                            from: agent ?? fixture.solver)
    }

    @Test("PROGRESS extends the deadline and tells the requester with EXTENDED")
    func progressExtends() throws {
        var fixture = try DeliveredRequest(timeout: 1_000)
        _ = fixture.broker.advance(by: 500)
        let message = try #require(progress(&fixture, extend: 2_000).only)
        #expect(message.peer == fixture.requester.peer)
        #expect(message.extended == Extended(callbackID: fixture.id, timeoutMilliseconds: 2_000))
        #expect(message.hasNoBody)
        // The old deadline passes without a timeout; the new one ends the request.
        #expect(fixture.broker.advance(by: 500).isEmpty)
        #expect(fixture.broker.advance(by: 1_499).isEmpty)
        let ended = fixture.broker.advance(by: 1)
        #expect(ended.to(fixture.requester).results == [ResultHeader(callbackID: fixture.id, status: .timeout, attempts: 1)])
        #expect(ended.to(fixture.solver).revocations == [fixture.deliver.deliveryID])
    }

    @Test("PROGRESS never extends a request past the maximum deadline")
    func progressCappedByMaximum() throws {
        var fixture = try DeliveredRequest(timeout: 1_000, configuration: .forTests { $0.maxDeadlineMilliseconds = 3_000 })
        _ = fixture.broker.advance(by: 500)
        #expect(progress(&fixture, extend: 60_000).only?.extended?.timeoutMilliseconds == 2_500)
        _ = fixture.broker.advance(by: 2_400)
        #expect(progress(&fixture, extend: 1_000).only?.extended?.timeoutMilliseconds == 100)
        #expect(fixture.broker.advance(by: 99).isEmpty)
        #expect(fixture.broker.advance(by: 1).results.map(\.status) == [.timeout])
    }

    @Test("PROGRESS asking for less time than is left keeps the deadline")
    func progressNeverShortens() throws {
        var fixture = try DeliveredRequest(timeout: 1_000)
        _ = fixture.broker.advance(by: 100)
        #expect(progress(&fixture, extend: 10).only?.extended?.timeoutMilliseconds == 900)
        #expect(progress(&fixture, extend: 0).only?.extended?.timeoutMilliseconds == 900)
        #expect(fixture.broker.advance(by: 899).isEmpty)
        #expect(fixture.broker.advance(by: 1).results.map(\.status) == [.timeout])
    }

    @Test("a PROGRESS note is passed to the requester untouched with EXTENDED")
    func progressNotePassedThrough() throws {
        var fixture = try DeliveredRequest(timeout: 1_000)
        let note = TestPayload("halfway there")
        let message = try #require(progress(&fixture, extend: 5_000, note: note).only)
        #expect(message.extended?.callbackID == fixture.id)
        #expect(message.payload === note)
        #expect(message.payload?.text == "halfway there")
    }

    @Test("PROGRESS from an agent that is not serving the request is ignored")
    func progressFromStrangerIgnored() throws {
        var fixture = try DeliveredRequest(timeout: 1_000)
        let other = fixture.broker.register("other")
        #expect(progress(&fixture, extend: 60_000, from: other).isEmpty)
        #expect(fixture.broker.advance(by: 1_000).results.map(\.status) == [.timeout])
    }

    @Test("after PROGRESS the answer still ends the request normally")
    func replyAfterProgress() throws {
        var fixture = try DeliveredRequest(timeout: 1_000)
        _ = progress(&fixture, extend: 5_000)
        _ = fixture.broker.advance(by: 3_000)
        let messages = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        #expect(messages.results == [ResultHeader(callbackID: fixture.id, status: .ok, attempts: 1)])
        #expect(fixture.broker.advance(by: 5_000).isEmpty)
    }

    @Test("CANCEL ends the request with CANCELLED and revokes the delivery; a later REPLY is dropped")
    func cancelRevokes() throws {
        var fixture = try DeliveredRequest()
        let messages = fixture.broker.send(.cancel(fixture.id), from: fixture.requester)
        #expect(messages.count == 2)
        let result = try #require(messages.to(fixture.requester).only)
        #expect(result.result == ResultHeader(callbackID: fixture.id, status: .cancelled, attempts: 1))
        #expect(result.text?.isEmpty == false)
        #expect(messages.to(fixture.solver).revocations == [fixture.deliver.deliveryID])
        #expect(fixture.broker.reply(from: fixture.solver, to: fixture.deliver).isEmpty)
        #expect(fixture.broker.core.counters.lateReplies == 1)
        #expect(fixture.broker.core.counters.outcomes(.cancelled) == 1)
        #expect(fixture.broker.inFlight("solver") == 0)
        // Its deadline no longer matters.
        #expect(fixture.broker.advance(by: 60_000).filter { !$0.isHeartbeat }.isEmpty)
    }

    @Test("CANCEL of a request still waiting for an agent ends it without REVOKE")
    func cancelWaiting() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let worker = broker.register("worker", capabilities: ["work"])
        _ = broker.direct { core, now in core.peerUnreachable(worker.peer, now: now) }
        let id = CallbackID.random()
        #expect(broker.request(from: requester, to: .capability("work"), id: id).isEmpty)
        let message = try #require(broker.send(.cancel(id), from: requester).only)
        #expect(message.result == ResultHeader(callbackID: id, status: .cancelled, attempts: 0))
        #expect(broker.snapshot.pending == 0)
    }

    @Test("CANCEL of an unknown callback id is refused with ERROR BAD_REQUEST naming it")
    func cancelUnknown() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let id = CallbackID(high: 0xABC, low: 0xDEF)
        let message = try #require(broker.send(.cancel(id), from: requester).only)
        #expect(message.peer == requester.peer)
        #expect(message.error == ErrorNotice(status: .badRequest, command: CommandCode.cancel.rawValue, callbackID: id))
        #expect(message.text?.contains(id.description) == true)
    }

    @Test("CANCEL of a finished request returns its outcome again")
    func cancelFinished() throws {
        var fixture = try DeliveredRequest()
        _ = fixture.broker.reply(from: fixture.solver, to: fixture.deliver, body: TestPayload("done"))
        let message = try #require(fixture.broker.send(.cancel(fixture.id), from: fixture.requester).only)
        #expect(message.result == ResultHeader(callbackID: fixture.id, status: .ok, attempts: 1))
        #expect(message.payload?.text == "done")
    }

    @Test("an agent can cancel only its own requests")
    func cancelOthersRequest() throws {
        var fixture = try DeliveredRequest()
        let other = fixture.broker.register("other")
        let message = try #require(fixture.broker.send(.cancel(fixture.id), from: other).only)
        #expect(message.peer == other.peer)
        #expect(message.error?.status == .badRequest)
        #expect(fixture.broker.snapshot.pending == 1)
        #expect(fixture.broker.reply(from: fixture.solver, to: fixture.deliver).results.map(\.status) == [.ok])
    }

    @Test("PROGRESS arriving after the deadline, before the timers ran, does not revive the request")
    func lateProgressIgnored() throws {
        var fixture = try DeliveredRequest(timeout: 500)
        fixture.broker.setClockWithoutTick(to: fixture.broker.now + 600)
        #expect(progress(&fixture, extend: 1_000).isEmpty)
        let messages = fixture.broker.advance(by: 0)
        #expect(messages.to(fixture.requester).results == [ResultHeader(callbackID: fixture.id, status: .timeout, attempts: 1)])
    }

    // Run in a child process: the arithmetic this guards against used to trap and would take the test runner down.
    @Test("PROGRESS arriving after the hard deadline, before the timers ran, does not crash the broker")
    func lateProgressBeforeTick() async {
        await #expect(processExitsWith: .success) {
            var fixture = try DeliveredRequest(timeout: 5_000, configuration: .forTests { $0.maxDeadlineMilliseconds = 1_000 })
            fixture.broker.setClockWithoutTick(to: fixture.broker.now + 1_500)
            _ = fixture.broker.send(.progress(ProgressReport(deliveryID: fixture.deliver.deliveryID, extendMilliseconds: 100)),
                                    from: fixture.solver)
        }
    }
}

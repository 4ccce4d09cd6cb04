import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("De-duplication of retried requests by callback id")
struct DedupeTests {
    /// Resends the fixture's request (same callback id and body bytes).
    private func retry(_ fixture: inout DeliveredRequest, body: TestPayload? = nil) -> [Outgoing] {
        fixture.broker.request(from: fixture.requester, to: .agent("solver"), id: fixture.id, timeout: 60_000,
                               body: body ?? TestPayload(fixture.body.bytes))
    }

    @Test("the same REQUEST sent 5 times is delivered once and answered once")
    func pendingRetriesAbsorbed() throws {
        var fixture = try DeliveredRequest()
        for _ in 0..<4 { #expect(retry(&fixture).isEmpty) }
        #expect(fixture.broker.core.counters.dedupeHits == 4)
        #expect(fixture.broker.core.counters.deliveries == 1)
        #expect(fixture.broker.core.counters.accepted == 1)
        let messages = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        #expect(messages.results == [ResultHeader(callbackID: fixture.id, status: .ok, attempts: 1)])
    }

    @Test("a retry after the request finished gets the cached RESULT again without a new DELIVER")
    func finishedRetryGetsCachedOutcome() throws {
        var fixture = try DeliveredRequest()
        let answer = TestPayload("the cached answer")
        _ = fixture.broker.reply(from: fixture.solver, to: fixture.deliver, status: .declined, body: answer)
        for round in 1...2 {
            let message = try #require(retry(&fixture).only)
            #expect(message.peer == fixture.requester.peer)
            #expect(message.result == ResultHeader(callbackID: fixture.id, status: .declined, attempts: 1))
            #expect(message.payload?.bytes == answer.bytes)
            #expect(message.payload === answer)
            #expect(fixture.broker.core.counters.dedupeHits == UInt64(round))
        }
        #expect(fixture.broker.core.counters.deliveries == 1)
        #expect(fixture.broker.snapshot.cachedOutcomes == 1)
    }

    @Test("a retry after a timeout gets the TIMEOUT again rather than a second try")
    func timedOutRetryGetsTimeout() throws {
        var fixture = try DeliveredRequest(timeout: 100)
        _ = fixture.broker.advance(by: 100)
        let message = try #require(retry(&fixture).only)
        #expect(message.result == ResultHeader(callbackID: fixture.id, status: .timeout, attempts: 1))
        #expect(message.text?.contains("deadline") == true)
        #expect(fixture.broker.core.counters.deliveries == 1)
    }

    @Test("the same callback id with a different payload is refused with ERROR BAD_REQUEST naming the id, while pending")
    func reuseWhilePending() throws {
        var fixture = try DeliveredRequest()
        let message = try #require(retry(&fixture, body: TestPayload("something else")).only)
        #expect(message.peer == fixture.requester.peer)
        let error = try #require(message.error)
        #expect(error.status == .badRequest)
        #expect(error.callbackID == fixture.id)
        #expect(message.text?.contains(fixture.id.description) == true)
        #expect(fixture.broker.core.counters.deliveries == 1)
        // The original request is untouched.
        let answered = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        #expect(answered.results == [ResultHeader(callbackID: fixture.id, status: .ok, attempts: 1)])
    }

    @Test("the same callback id with a different payload is refused after the request finished too")
    func reuseAfterFinish() throws {
        var fixture = try DeliveredRequest()
        _ = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        let message = try #require(retry(&fixture, body: TestPayload("something else")).only)
        #expect(message.error?.status == .badRequest)
        #expect(message.error?.callbackID == fixture.id)
    }

    @Test("the ERROR for a reused callback id names REQUEST as the refused command")
    func reuseNamesRequestCommand() throws {
        var fixture = try DeliveredRequest()
        let message = try #require(retry(&fixture, body: TestPayload("something else")).only)
        #expect(message.error?.command == CommandCode.request.rawValue)
    }

    @Test("a request without a body and its retry with an empty body are the same request")
    func absentAndEmptyBodiesMatch() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        _ = broker.register("solver")
        let id = CallbackID.random()
        #expect(broker.request(from: requester, to: .agent("solver"), id: id, body: nil).deliveries.count == 1)
        #expect(broker.request(from: requester, to: .agent("solver"), id: id, body: TestPayload([])).isEmpty)
        #expect(broker.core.counters.dedupeHits == 1)
    }

    @Test("equal callback ids from two requesters are two different requests")
    func callbackIDsArePerRequester() throws {
        var fixture = try DeliveredRequest()
        let second = fixture.broker.register("asker-2")
        let messages = fixture.broker.request(from: second, to: .agent("solver"), id: fixture.id, body: TestPayload(fixture.body.bytes))
        let deliver = try #require(messages.deliveries.only)
        #expect(deliver.requester == "asker-2")
        #expect(deliver.deliveryID != fixture.deliver.deliveryID)
        #expect(fixture.broker.core.counters.dedupeHits == 0)
    }

    @Test("an outcome is kept at least the dedupe window, and once twice the window has passed it is delivered anew")
    func windowExpiry() throws {
        // Expiry runs on heartbeat ticks (every 10 s here); the window is 15 s.
        var fixture = try DeliveredRequest(timeout: 100, configuration: .forTests { $0.dedupeWindowMilliseconds = 15_000 })
        _ = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        _ = fixture.broker.advance(by: 10_000)
        #expect(retry(&fixture).only?.result?.status == .ok)
        for _ in 0..<3 {
            fixture.broker.heartbeat(fixture.requester, fixture.solver)
            _ = fixture.broker.advance(by: 10_000)
        }
        #expect(fixture.broker.snapshot.cachedOutcomes == 0)
        let message = try #require(retry(&fixture).only)
        let deliver = try #require(message.deliver)
        #expect(message.peer == fixture.solver.peer)
        #expect(deliver.callbackID == fixture.id)
        #expect(deliver.attempt == 1)
    }

    @Test("the dedupe window counts from when the request finished, not from its deadline")
    func windowCountsFromFinish() throws {
        var fixture = try DeliveredRequest(timeout: 60_000, configuration: .forTests { $0.dedupeWindowMilliseconds = 15_000 })
        _ = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        for _ in 0..<4 {
            fixture.broker.heartbeat(fixture.requester, fixture.solver)
            _ = fixture.broker.advance(by: 10_000)
        }
        // Finished 40 s ago with a 15 s window (kept at most twice the window): the outcome must be gone.
        #expect(fixture.broker.snapshot.cachedOutcomes == 0)
        #expect(retry(&fixture).only?.deliver != nil)
    }

    @Test("outcomes stay cached for the window even when the clock is still near zero")
    func windowNearClockOrigin() throws {
        var broker = BrokerHarness(.forTests(), start: 0)
        let requester = broker.register("asker")
        let solver = broker.register("solver")
        let id = CallbackID.random()
        let body = TestPayload("q")
        let deliver = try #require(broker.request(from: requester, to: .agent("solver"), id: id, body: body).deliveries.only)
        _ = broker.reply(from: solver, to: deliver)
        _ = broker.advance(by: 10_000)
        #expect(broker.snapshot.cachedOutcomes == 1)
        let message = try #require(broker.request(from: requester, to: .agent("solver"), id: id, body: TestPayload(body.bytes)).only)
        #expect(message.result?.status == .ok)
    }

    @Test("when the cache is full, the oldest outcome is evicted first")
    func capacityEviction() throws {
        var broker = BrokerHarness(.forTests { $0.dedupeCapacity = 2 })
        let requester = broker.register("asker")
        let solver = broker.register("solver")
        let ids = (0..<3).map { _ in CallbackID.random() }
        for id in ids {
            let deliver = try #require(broker.request(from: requester, to: .agent("solver"), id: id, body: TestPayload("same")).deliveries.only)
            _ = broker.reply(from: solver, to: deliver)
        }
        #expect(broker.snapshot.cachedOutcomes == 2)
        #expect(broker.request(from: requester, to: .agent("solver"), id: ids[2], body: TestPayload("same")).only?.result?.status == .ok)
        #expect(broker.request(from: requester, to: .agent("solver"), id: ids[1], body: TestPayload("same")).only?.result?.status == .ok)
        let anew = try #require(broker.request(from: requester, to: .agent("solver"), id: ids[0], body: TestPayload("same")).only)
        #expect(anew.deliver?.callbackID == ids[0])
        #expect(anew.peer == solver.peer)
    }

    @Test("with a dedupe capacity of 0 nothing is cached and a retry is delivered again")
    func zeroCapacity() throws {
        var fixture = try DeliveredRequest(configuration: .forTests { $0.dedupeCapacity = 0 })
        _ = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        #expect(fixture.broker.snapshot.cachedOutcomes == 0)
        #expect(retry(&fixture).only?.deliver?.callbackID == fixture.id)
    }

    @Test("a request refused at once is not remembered: its retry is routed again")
    func refusalsNotCached() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let id = CallbackID.random()
        #expect(broker.request(from: requester, to: .agent("late"), id: id).only?.result?.status == .noRoute)
        let late = broker.register("late")
        let message = try #require(broker.request(from: requester, to: .agent("late"), id: id).only)
        #expect(message.peer == late.peer)
        #expect(message.deliver?.callbackID == id)
    }
}

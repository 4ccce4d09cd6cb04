import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Deadlines: timeouts, revocation and late replies")
struct DeadlineTests {
    @Test("an unanswered request ends with TIMEOUT exactly once at its deadline, and the serving agent gets REVOKE")
    func timeoutAtDeadline() throws {
        var fixture = try DeliveredRequest(timeout: 500)
        #expect(fixture.broker.advance(by: 499).isEmpty)
        let messages = fixture.broker.advance(by: 1)
        #expect(messages.count == 2)
        let result = try #require(messages.to(fixture.requester).only)
        #expect(result.result == ResultHeader(callbackID: fixture.id, status: .timeout, attempts: 1))
        #expect(result.text?.contains("deadline") == true)
        #expect(messages.to(fixture.solver).only?.revokedDelivery == fixture.deliver.deliveryID)
        #expect(fixture.broker.advance(by: 5_000).isEmpty)
        #expect(fixture.broker.core.counters.outcomes(.timeout) == 1)
        #expect(fixture.broker.snapshot.pending == 0)
        #expect(fixture.broker.inFlight("solver") == 0)
    }

    @Test("a tick well past the deadline still times the request out once")
    func lateTickTimesOutOnce() throws {
        var fixture = try DeliveredRequest(timeout: 500)
        let messages = fixture.broker.advance(by: 9_000)
        #expect(messages.to(fixture.requester).results == [ResultHeader(callbackID: fixture.id, status: .timeout, attempts: 1)])
        #expect(fixture.broker.advance(by: 500).isEmpty)
    }

    @Test("a REPLY after the timeout is dropped, counted as late, and sends nothing")
    func lateReplyDropped() throws {
        var fixture = try DeliveredRequest(timeout: 500)
        _ = fixture.broker.advance(by: 500)
        #expect(fixture.broker.reply(from: fixture.solver, to: fixture.deliver).isEmpty)
        #expect(fixture.broker.core.counters.lateReplies == 1)
        #expect(fixture.broker.core.counters.outcomes(.ok) == 0)
    }

    @Test("a REPLY just before the deadline wins, and the deadline then passes silently")
    func replyBeforeDeadline() throws {
        var fixture = try DeliveredRequest(timeout: 500)
        _ = fixture.broker.advance(by: 499)
        let messages = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        #expect(messages.to(fixture.requester).results == [ResultHeader(callbackID: fixture.id, status: .ok, attempts: 1)])
        #expect(fixture.broker.advance(by: 1).isEmpty)
        #expect(fixture.broker.core.counters.outcomes(.timeout) == 0)
    }

    @Test("a timeout longer than the maximum deadline is cut to it")
    func timeoutClampedToMaximum() throws {
        var fixture = try DeliveredRequest(timeout: 60_000, configuration: .forTests { $0.maxDeadlineMilliseconds = 2_000 })
        #expect(fixture.deliver.timeoutMilliseconds == 2_000)
        #expect(fixture.broker.advance(by: 1_999).isEmpty)
        let messages = fixture.broker.advance(by: 1)
        #expect(messages.to(fixture.requester).results == [ResultHeader(callbackID: fixture.id, status: .timeout, attempts: 1)])
    }

    @Test("a request waiting for an agent times out with 0 attempts and no REVOKE")
    func waitingRequestTimesOut() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let worker = broker.register("worker", capabilities: ["work"])
        _ = broker.direct { core, now in core.peerUnreachable(worker.peer, now: now) }
        let id = CallbackID.random()
        #expect(broker.request(from: requester, to: .capability("work"), id: id, timeout: 300).isEmpty)
        #expect(broker.snapshot.waiting == 1)
        let message = try #require(broker.advance(by: 300).only)
        #expect(message.peer == requester.peer)
        #expect(message.result == ResultHeader(callbackID: id, status: .timeout, attempts: 0))
    }

    @Test("nextWakeup names the earliest deadline when it comes before the next heartbeat")
    func nextWakeupFollowsDeadlines() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        _ = broker.register("solver")
        #expect(broker.core.nextWakeup == BrokerHarness.start + 10_000)
        _ = broker.request(from: requester, to: .agent("solver"), timeout: 700)
        _ = broker.request(from: requester, to: .agent("solver"), timeout: 300)
        #expect(broker.core.nextWakeup == BrokerHarness.start + 300)
        _ = broker.advance(by: 300)
        #expect(broker.core.nextWakeup == BrokerHarness.start + 700)
        _ = broker.advance(by: 400)
        #expect(broker.core.nextWakeup == BrokerHarness.start + 10_000)
    }

    @Test("many requests time out each at its own deadline, in deadline order")
    func manyDeadlinesInOrder() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        _ = broker.register("solver")
        var generator = SeededGenerator(seed: 42)
        var deadlineOf: [CallbackID: UInt64] = [:]
        for _ in 0..<200 {
            let id = generator.callbackID()
            let timeout = UInt32.random(in: 1...2_000, using: &generator)
            deadlineOf[id] = broker.now + UInt64(timeout)
            _ = broker.request(from: requester, to: .agent("solver"), id: id, timeout: timeout)
        }
        var timedOut = 0
        for _ in 0..<2_000 {
            for result in broker.advance(by: 1).results {
                #expect(result.status == .timeout)
                #expect(deadlineOf[result.callbackID] == broker.now, "timed out at \(broker.now)")
                timedOut += 1
            }
        }
        #expect(timedOut == 200)
    }

    @Test("a request whose agent goes away after its deadline passed, before the timers ran, is not redelivered but times out")
    func redeliveryAfterDeadlineBeforeTick() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let first = broker.register("w1", capabilities: ["work"])
        let second = broker.register("w2", capabilities: ["work"])
        let id = CallbackID.random()
        let delivered = try #require(broker.request(from: requester, to: .capability("work"), id: id, timeout: 500).only)
        let serving = delivered.peer == first.peer ? first : second
        broker.setClockWithoutTick(to: broker.now + 600)
        var messages = broker.direct { core, now in core.peerUnreachable(serving.peer, now: now) }
        messages += broker.advance(by: 0)
        // Formerly the DELIVER promised 4294967295 ms (deadline &- now wrapped).
        #expect(messages.deliveries.isEmpty, "redelivered with \(messages.deliveries.map(\.timeoutMilliseconds)) ms left")
        #expect(messages.to(requester).results == [ResultHeader(callbackID: id, status: .timeout, attempts: 1)])
    }
}

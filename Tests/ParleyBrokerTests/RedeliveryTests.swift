import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Redelivery when the serving agent goes away or leaves")
struct RedeliveryTests {
    /// A requester and two agents offering "work"; one request delivered to whichever was chosen.
    private struct TwoWorkers {
        var broker: BrokerHarness
        let requester: Agent
        let serving: Agent
        let spare: Agent
        let id = CallbackID.random()
        let first: Deliver

        init(timeout: UInt32 = 120_000, configuration: BrokerConfiguration = .forTests()) throws {
            broker = BrokerHarness(configuration)
            requester = broker.register("asker")
            let one = broker.register("w1", capabilities: ["work"])
            let two = broker.register("w2", capabilities: ["work"])
            let message = try #require(broker.request(from: requester, to: .capability("work"), id: id, timeout: timeout).only)
            first = try #require(message.deliver)
            serving = message.peer == one.peer ? one : two
            spare = message.peer == one.peer ? two : one
        }
    }

    @Test("an agent silent past liveness × heartbeat loses its capability request to another capable agent, as attempt 2")
    func silentAgentLosesWork() throws {
        var setup = try TwoWorkers()
        var redelivered: [Outgoing] = []
        for _ in 0..<4 {
            setup.broker.heartbeat(setup.requester, setup.spare)
            redelivered += setup.broker.advance(by: 10_000).filter { !$0.isHeartbeat }
        }
        let message = try #require(redelivered.only)
        #expect(message.peer == setup.spare.peer)
        let deliver = try #require(message.deliver)
        #expect(deliver.callbackID == setup.id)
        #expect(deliver.attempt == 2)
        #expect(deliver.timeoutMilliseconds == 80_000)
        #expect(deliver.deliveryID != setup.first.deliveryID)
        #expect(setup.broker.core.counters.redeliveries == 1)
        #expect(setup.broker.agentState(setup.serving.id) == "away")

        let result = try #require(setup.broker.reply(from: setup.spare, to: deliver).only)
        #expect(result.peer == setup.requester.peer)
        #expect(result.result == ResultHeader(callbackID: setup.id, status: .ok, attempts: 2))
    }

    @Test("a peer reported unreachable loses its work at once to another capable agent")
    func unreachablePeerLosesWork() throws {
        var setup = try TwoWorkers()
        _ = setup.broker.advance(by: 1_000)
        let gone = setup.serving.peer
        let messages = setup.broker.direct { core, now in core.peerUnreachable(gone, now: now) }
        let deliver = try #require(messages.to(setup.spare).deliveries.only)
        #expect(messages.count == 1)
        #expect(deliver.attempt == 2)
        #expect(deliver.timeoutMilliseconds == 119_000)
        #expect(setup.broker.inFlight(setup.serving.id) == 0)
        #expect(setup.broker.inFlight(setup.spare.id) == 1)
    }

    @Test("BYE from the agent serving a capability request moves the request to another capable agent")
    func byeMovesWork() throws {
        var setup = try TwoWorkers()
        let messages = setup.broker.send(.bye, from: setup.serving)
        let deliver = try #require(messages.to(setup.spare).deliveries.only)
        #expect(messages.count == 1)
        #expect(deliver.callbackID == setup.id)
        #expect(deliver.attempt == 2)
        let result = setup.broker.reply(from: setup.spare, to: deliver)
        #expect(result.results == [ResultHeader(callbackID: setup.id, status: .ok, attempts: 2)])
    }

    @Test("a capability request whose only agent left waits, then goes to the next capable agent that registers")
    func workWaitsForNextCapableAgent() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let only = broker.register("w1", capabilities: ["work"])
        let id = CallbackID.random()
        _ = broker.request(from: requester, to: .capability("work"), id: id)
        #expect(broker.send(.bye, from: only).isEmpty)
        #expect(broker.snapshot.waiting == 1)
        let (newcomer, messages) = broker.hello("w9", capabilities: ["work"])
        #expect(messages.count == 2)
        #expect(messages.first?.isWelcome == true)
        let deliver = try #require(messages.to(newcomer).deliveries.only)
        #expect(deliver.callbackID == id)
        #expect(deliver.attempt == 2)
    }

    @Test("a request addressed to an agent that vanished waits, and is delivered as attempt 2 when the same instance returns")
    func addressedRequestWaitsForReturn() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let solver = broker.register("solver", instance: 99)
        let id = CallbackID.random()
        let first = try #require(broker.request(from: requester, to: .agent("solver"), id: id, timeout: 120_000).deliveries.only)
        for _ in 0..<4 {
            broker.heartbeat(requester)
            #expect(broker.advance(by: 10_000).allSatisfy { $0.isHeartbeat })
        }
        #expect(broker.agentState("solver") == "away")
        #expect(broker.snapshot.pending == 1)

        let (back, messages) = broker.hello("solver", instance: 99)
        #expect(back.peer != solver.peer)
        #expect(messages.count == 2)
        let deliver = try #require(messages.to(back).deliveries.only)
        #expect(deliver.callbackID == id)
        #expect(deliver.attempt == 2)
        #expect(deliver.deliveryID != first.deliveryID)
        #expect(deliver.timeoutMilliseconds == 80_000)
        let result = try #require(broker.reply(from: back, to: deliver).only)
        #expect(result.peer == requester.peer)
        #expect(result.result == ResultHeader(callbackID: id, status: .ok, attempts: 2))
    }

    @Test("a new request addressed to an away agent waits for it instead of failing")
    func newRequestForAwayAgentWaits() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let solver = broker.register("solver", instance: 3)
        _ = broker.direct { core, now in core.peerUnreachable(solver.peer, now: now) }
        let id = CallbackID.random()
        #expect(broker.request(from: requester, to: .agent("solver"), id: id).isEmpty)
        let (back, messages) = broker.hello("solver", instance: 3)
        #expect(messages.to(back).deliveries.map(\.attempt) == [1])
    }

    @Test("BYE from an agent addressed by id ends its requests with UNAVAILABLE")
    func byeOfAddressedAgent() throws {
        var fixture = try DeliveredRequest()
        let messages = fixture.broker.send(.bye, from: fixture.solver)
        let message = try #require(messages.only)
        #expect(message.peer == fixture.requester.peer)
        #expect(message.result == ResultHeader(callbackID: fixture.id, status: .unavailable, attempts: 1))
        #expect(message.text?.contains("'solver'") == true)
        #expect(fixture.broker.snapshot.pending == 0)
    }

    @Test("a reply naming a superseded delivery is dropped; the current delivery's reply ends the request")
    func supersededDeliveryReplyDropped() throws {
        var setup = try TwoWorkers()
        let gone = setup.serving.peer
        let moved = setup.broker.direct { core, now in core.peerUnreachable(gone, now: now) }
        let current = try #require(moved.deliveries.only)
        // The first agent comes back (same instance, new connection) and answers its old delivery.
        let (back, welcome) = setup.broker.hello(setup.serving.id, capabilities: ["work"], instance: setup.serving.instance)
        #expect(welcome.only?.isWelcome == true)
        #expect(setup.broker.send(.reply(Reply(deliveryID: setup.first.deliveryID, status: .ok)), from: back).isEmpty)
        #expect(setup.broker.core.counters.lateReplies == 1)
        let result = setup.broker.reply(from: setup.spare, to: current)
        #expect(result.results == [ResultHeader(callbackID: setup.id, status: .ok, attempts: 2)])
    }

    @Test("requests waiting for an agent that stays away past the retention end with UNAVAILABLE")
    func awayPastRetention() throws {
        var fixture = try DeliveredRequest(timeout: 120_000, configuration: .forTests { $0.awayRetentionMilliseconds = 15_000 })
        let gone = fixture.solver.peer
        _ = fixture.broker.direct { core, now in core.peerUnreachable(gone, now: now) }
        fixture.broker.heartbeat(fixture.requester)
        #expect(fixture.broker.advance(by: 10_000).results.isEmpty)
        fixture.broker.heartbeat(fixture.requester)
        let results = fixture.broker.advance(by: 10_000).results
        #expect(results == [ResultHeader(callbackID: fixture.id, status: .unavailable, attempts: 1)])
        #expect(fixture.broker.agentState("solver") == nil)
    }

    @Test("work moved from several failing agents counts every attempt")
    func attemptsAccumulate() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let workers = (1...4).map { broker.register("w\($0)", capabilities: ["work"]) }
        let id = CallbackID.random()
        var message = try #require(broker.request(from: requester, to: .capability("work"), id: id).only)
        var seen: Set<PeerID> = [message.peer]
        for attempt in 2...4 {
            let failing = message.peer
            message = try #require(broker.direct { core, now in core.peerUnreachable(failing, now: now) }.only)
            #expect(message.deliver?.attempt == UInt8(attempt))
            #expect(!seen.contains(message.peer), "redelivered to an agent that already went away")
            seen.insert(message.peer)
        }
        #expect(seen == Set(workers.map(\.peer)))
        #expect(broker.core.counters.redeliveries == 3)
    }
}

import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Overload limits, malformed input and shutdown")
struct LimitsAndShutdownTests {
    @Test("a requester at its pending limit gets OVERLOADED; others are unaffected, and room frees up as requests end")
    func perRequesterLimit() throws {
        var broker = BrokerHarness(.forTests { $0.maxPendingPerRequester = 2 })
        let busy = broker.register("busy")
        let calm = broker.register("calm")
        let solver = broker.register("solver")
        let first = try #require(broker.request(from: busy, to: .agent("solver")).deliveries.only)
        _ = broker.request(from: busy, to: .agent("solver"))
        let id = CallbackID.random()
        let refused = try #require(broker.request(from: busy, to: .agent("solver"), id: id).only)
        #expect(refused.peer == busy.peer)
        #expect(refused.result == ResultHeader(callbackID: id, status: .overloaded, attempts: 0))
        #expect(refused.text?.contains("2 pending") == true)
        #expect(broker.core.counters.accepted == 2)

        #expect(broker.request(from: calm, to: .agent("solver")).deliveries.count == 1)
        _ = broker.reply(from: solver, to: first)
        // The refused id was not remembered: retried now, it is delivered.
        #expect(broker.request(from: busy, to: .agent("solver"), id: id).deliveries.map(\.callbackID) == [id])
    }

    @Test("the broker-wide pending limit refuses further requests with OVERLOADED")
    func globalLimit() throws {
        var broker = BrokerHarness(.forTests { $0.maxPending = 3 })
        let requesters = (0..<4).map { broker.register("r\($0)") }
        _ = broker.register("solver")
        for requester in requesters.prefix(3) {
            #expect(broker.request(from: requester, to: .agent("solver")).deliveries.count == 1)
        }
        let message = try #require(broker.request(from: requesters[3], to: .agent("solver")).only)
        #expect(message.result?.status == .overloaded)
        #expect(broker.snapshot.pending == 3)
    }

    @Test("pending payload bytes are budgeted per requester and broker-wide; room frees up as requests end")
    func byteBudgets() throws {
        var broker = BrokerHarness(.forTests { $0.maxPendingBytesPerRequester = 10_000; $0.maxPendingBytes = 15_000 })
        let big = broker.register("big")
        let other = broker.register("other")
        let solver = broker.register("solver")
        let body = TestPayload([UInt8](repeating: 7, count: 4_000))
        let first = try #require(broker.request(from: big, to: .agent("solver"), body: body).deliveries.only)
        #expect(broker.request(from: big, to: .agent("solver"), body: body).deliveries.count == 1)
        let refused = try #require(broker.request(from: big, to: .agent("solver"), body: body).only)
        #expect(refused.result?.status == .overloaded)
        #expect(refused.text == "agent 'big' already has 8000 bytes pending; its limit is 10000")
        // Small requests still fit the requester's budget.
        #expect(broker.request(from: big, to: .agent("solver"), body: TestPayload("small")).deliveries.count == 1)
        // The broker-wide budget: 8,005 pending, so another 4,000 fits and the next does not.
        #expect(broker.request(from: other, to: .agent("solver"), body: body).deliveries.count == 1)
        let full = try #require(broker.request(from: other, to: .agent("solver"), body: body).only)
        #expect(full.text == "the broker holds its maximum of 15000 bytes of pending requests")
        _ = broker.reply(from: solver, to: first)
        #expect(broker.request(from: other, to: .agent("solver"), body: body).deliveries.count == 1)
    }

    @Test("a gateway's forwarded calls count against their original callers, not against the gateway")
    func forwardedCallsCountPerCaller() throws {
        var broker = BrokerHarness(.forTests { $0.gatewayToken = "tok"; $0.maxPendingPerRequester = 2 })
        let gateway = broker.newPeer()
        #expect(broker.send(.gatewayHello(GatewayHello(instance: 1, gatewayID: "gateway", token: "tok")), from: gateway).only?.isWelcome == true)
        _ = broker.register("store", layer: "infrastructure")
        func forward(for caller: String) -> [Outgoing] {
            broker.send(.forward(Forward(request: Request(callbackID: .random(), kind: .call, timeoutMilliseconds: 60_000,
                                                          target: .agent("store"), contentType: ""),
                                         caller: caller, callerLayer: "domain")), body: TestPayload("q"), from: gateway)
        }
        #expect(forward(for: "greedy").deliveries.count == 1)
        #expect(forward(for: "greedy").deliveries.count == 1)
        let refused = try #require(forward(for: "greedy").only)
        #expect(refused.text == "agent 'greedy' already has 2 pending requests")
        #expect(forward(for: "polite").deliveries.count == 1, "another caller behind the same gateway is not refused")
    }

    @Test("a malformed REQUEST whose callback id could be read ends with RESULT BAD_REQUEST")
    func malformedRequestWithID() throws {
        var broker = BrokerHarness()
        let agent = broker.register("sloppy")
        let id = CallbackID.random()
        let messages = broker.direct { core, _ in
            core.refuseMalformed(command: CommandCode.request.rawValue, callbackID: id, from: agent.peer, reason: "invalid target: 'foo:x'")
        }
        let message = try #require(messages.only)
        #expect(message.peer == agent.peer)
        #expect(message.result == ResultHeader(callbackID: id, status: .badRequest, attempts: 0))
        #expect(message.text == "invalid target: 'foo:x'")
        #expect(broker.core.counters.malformed == 1)
        #expect(broker.core.counters.outcomes(.badRequest) == 1)
    }

    @Test("a malformed message without a readable callback id gets ERROR BAD_REQUEST, registered or not")
    func malformedWithoutID() throws {
        var broker = BrokerHarness()
        let agent = broker.register("sloppy")
        let stranger = broker.newPeer()
        for peer in [agent.peer, stranger] {
            let messages = broker.direct { core, _ in
                core.refuseMalformed(command: 0x7F, callbackID: nil, from: peer, reason: "unknown command 0x7f")
            }
            let message = try #require(messages.only)
            #expect(message.peer == peer)
            #expect(message.error == ErrorNotice(status: .badRequest, command: 0x7F, callbackID: .none))
            #expect(message.text == "unknown command 0x7f")
        }
        #expect(broker.core.counters.malformed == 2)
        #expect(broker.agentState("sloppy") == "alive")
    }

    @Test("a malformed resend of a pending request is refused with ERROR, keeping the request's one RESULT")
    func malformedResendOfPendingRequest() throws {
        var fixture = try DeliveredRequest()
        let requester = fixture.requester.peer
        let id = fixture.id
        let messages = fixture.broker.direct { core, _ in
            core.refuseMalformed(command: CommandCode.request.rawValue, callbackID: id, from: requester, reason: "bad")
        }
        let message = try #require(messages.only)
        #expect(message.error?.status == .badRequest)
        #expect(message.error?.callbackID == fixture.id)
        #expect(messages.results.isEmpty)
        let answered = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        #expect(answered.results == [ResultHeader(callbackID: fixture.id, status: .ok, attempts: 1)])
    }

    @Test("shutdown ends every pending request with UNAVAILABLE, revokes deliveries, then says HEARTBEAT and BYE to live agents")
    func shutdown() throws {
        var broker = BrokerHarness()
        let first = broker.register("r1")
        let second = broker.register("r2")
        let solver = broker.register("solver", capabilities: ["work"])
        let away = broker.register("away", capabilities: ["rare"])
        _ = broker.direct { core, now in core.peerUnreachable(away.peer, now: now) }
        let servedID = CallbackID.random()
        let deliver = try #require(broker.request(from: first, to: .capability("work"), id: servedID).deliveries.only)
        let waitingID = CallbackID.random()
        #expect(broker.request(from: second, to: .capability("rare"), id: waitingID).isEmpty)

        let messages = broker.direct { core, _ in core.shutdown() }
        #expect(messages.to(first).results == [ResultHeader(callbackID: servedID, status: .unavailable, attempts: 1)])
        #expect(messages.to(second).results == [ResultHeader(callbackID: waitingID, status: .unavailable, attempts: 0)])
        #expect(messages.to(solver).revocations == [deliver.deliveryID])
        let byes = messages.filter(\.isBye).map(\.peer)
        #expect(Set(byes) == [first.peer, second.peer, solver.peer])
        #expect(byes.count == 3)
        // No RESULT directly followed by BYE: that would read as "not registered, send it again" (§6.1).
        #expect([first, second, solver].allSatisfy { messages.to($0).suffix(2).map(\.header) == [.heartbeat, .bye] })
        #expect(messages.to(away).isEmpty)
        #expect(messages.count == 9)
        #expect(broker.snapshot.pending == 0)
    }

    @Test("the snapshot reports agents, pending and waiting work, cached outcomes and counters")
    func snapshotReportsState() throws {
        var fixture = try DeliveredRequest()
        let worker = fixture.broker.register("worker", capabilities: ["rare"])
        _ = fixture.broker.direct { core, now in core.peerUnreachable(worker.peer, now: now) }
        _ = fixture.broker.request(from: fixture.requester, to: .capability("rare"))
        _ = fixture.broker.request(from: fixture.requester, to: .agent("nobody"))
        let snapshot = fixture.broker.snapshot
        #expect(snapshot.agents.map(\.id) == ["asker", "solver", "worker"])
        #expect(snapshot.agents.map(\.state) == ["alive", "alive", "away"])
        #expect(snapshot.agents.map(\.inFlight) == [0, 1, 0])
        #expect(snapshot.pending == 2)
        #expect(snapshot.waiting == 1)
        #expect(snapshot.accepted == 2)
        #expect(snapshot.deliveries == 1)
        #expect(snapshot.outcomes["NO_ROUTE"] == 1)
        #expect(snapshot.outcomes.count == Status.allCases.count)
        _ = fixture.broker.reply(from: fixture.solver, to: fixture.deliver)
        #expect(fixture.broker.snapshot.cachedOutcomes == 1)
        #expect(fixture.broker.snapshot.outcomes["OK"] == 1)
    }
}

import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Routing by agent id and capability, and refusals")
struct RoutingTests {
    @Test("a request by agent id is delivered to that agent as attempt 1 with the request's details and body")
    func deliverByAgentID() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker", layer: "domain")
        let solver = broker.register("solver", layer: "domain")
        let id = CallbackID.random()
        let question = TestPayload("what is 6 × 7?")
        let messages = broker.request(from: requester, to: .agent("solver"), id: id, timeout: 5_000, kind: .clarification,
                                      contentType: "application/json", body: question)
        let message = try #require(messages.only)
        #expect(message.peer == solver.peer)
        let deliver = try #require(message.deliver)
        #expect(deliver.callbackID == id)
        #expect(deliver.kind == .clarification)
        #expect(deliver.attempt == 1)
        #expect(deliver.timeoutMilliseconds == 5_000)
        #expect(deliver.requester == "asker")
        #expect(deliver.requesterLayer == "domain")
        #expect(deliver.contentType == "application/json")
        let body = try #require(message.payload)
        #expect(body.bytes == question.bytes)
        #expect(body === question)
        #expect(broker.core.counters.accepted == 1)
        #expect(broker.core.counters.deliveries == 1)
        #expect(broker.inFlight("solver") == 1)
    }

    @Test("a REPLY ends the request with RESULT OK to the requester, the answer passed through untouched")
    func replyBecomesResult() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let solver = broker.register("solver")
        let id = CallbackID.random()
        let deliver = try #require(broker.request(from: requester, to: .agent("solver"), id: id).deliveries.only)
        let answer = TestPayload("42")
        let message = try #require(broker.reply(from: solver, to: deliver, body: answer).only)
        #expect(message.peer == requester.peer)
        #expect(message.result == ResultHeader(callbackID: id, status: .ok, attempts: 1))
        let body = try #require(message.payload)
        #expect(body.bytes == Array("42".utf8))
        #expect(body === answer)
        #expect(broker.core.counters.outcomes(.ok) == 1)
        #expect(broker.snapshot.pending == 0)
        #expect(broker.inFlight("solver") == 0)
    }

    @Test("DECLINED and FAILED replies reach the requester with the handler's reason", arguments: [Status.declined, .failed])
    func handlerRefusalsPassThrough(_ status: Status) throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let solver = broker.register("solver")
        let id = CallbackID.random()
        let deliver = try #require(broker.request(from: requester, to: .agent("solver"), id: id).deliveries.only)
        let message = try #require(broker.reply(from: solver, to: deliver, status: status, body: TestPayload("not my job")).only)
        #expect(message.result == ResultHeader(callbackID: id, status: status, attempts: 1))
        #expect(message.payload?.text == "not my job")
        // A handler's own outcome needs no REVOKE.
        #expect(message.peer == requester.peer)
    }

    @Test("a request or reply without a body travels without one")
    func noBody() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let solver = broker.register("solver")
        let delivered = try #require(broker.request(from: requester, to: .agent("solver"), body: nil).only)
        #expect(delivered.hasNoBody)
        let deliver = try #require(delivered.deliver)
        let result = try #require(broker.reply(from: solver, to: deliver, body: nil).only)
        #expect(result.result?.status == .ok)
        #expect(result.hasNoBody)
    }

    @Test("capability requests answered one at a time spread evenly over the capable agents")
    func capabilitySpread() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let workers = ["w1", "w2", "w3"].map { broker.register($0, capabilities: ["summarise"]) }
        var served: [String: Int] = [:]
        for _ in 0..<300 {
            let message = try #require(broker.request(from: requester, to: .capability("summarise")).only)
            let worker = try #require(workers.first { $0.peer == message.peer })
            served[worker.id, default: 0] += 1
            let deliver = try #require(message.deliver)
            let result = try #require(broker.reply(from: worker, to: deliver).only)
            #expect(result.result?.status == .ok)
        }
        #expect(served.values.reduce(0, +) == 300)
        #expect(served.count == 3)
        for worker in workers { #expect(served[worker.id, default: 0] >= 60, "\(worker.id) served \(served[worker.id, default: 0])") }
    }

    @Test("least-loaded: an agent with work in flight is skipped for an idle one")
    func leastLoaded() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let workers = ["w1", "w2", "w3"].map { broker.register($0, capabilities: ["work"]) }
        var held: [PeerID: Deliver] = [:]
        for _ in 0..<3 {
            let message = try #require(broker.request(from: requester, to: .capability("work")).only)
            #expect(held[message.peer] == nil, "a busy agent was chosen while others were idle")
            held[message.peer] = message.deliver
        }
        #expect(Set(held.keys) == Set(workers.map(\.peer)))

        // Free the second worker: it is now the only idle one, so it gets the next request.
        let freed = workers[1]
        _ = broker.reply(from: freed, to: try #require(held[freed.peer]))
        #expect(broker.request(from: requester, to: .capability("work")).only?.peer == freed.peer)
        #expect(broker.snapshot.agents.filter { $0.id.hasPrefix("w") }.map(\.inFlight) == [1, 1, 1])
    }

    @Test("a capability request goes only to capable agents of the requester's layer")
    func capabilityStaysInLayer() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker", layer: "app")
        let local = broker.register("local-db", layer: "app", capabilities: ["db"])
        _ = broker.register("infra-db", layer: "infra", capabilities: ["db"])
        _ = broker.register("other", layer: "app", capabilities: ["cache"])
        for _ in 0..<10 {
            let message = try #require(broker.request(from: requester, to: .capability("db")).only)
            #expect(message.peer == local.peer)
            _ = broker.reply(from: local, to: try #require(message.deliver))
        }
    }

    @Test("a request to an unknown agent ends with NO_ROUTE and is not accepted")
    func unknownAgent() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let id = CallbackID.random()
        let message = try #require(broker.request(from: requester, to: .agent("ghost"), id: id).only)
        #expect(message.peer == requester.peer)
        #expect(message.result == ResultHeader(callbackID: id, status: .noRoute, attempts: 0))
        #expect(message.text?.contains("'ghost'") == true)
        #expect(broker.core.counters.accepted == 0)
        #expect(broker.core.counters.outcomes(.noRoute) == 1)
        #expect(broker.snapshot.pending == 0)
    }

    @Test("a request for a capability nobody offers ends with NO_ROUTE")
    func unknownCapability() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        _ = broker.register("worker", capabilities: ["other"])
        let id = CallbackID.random()
        let message = try #require(broker.request(from: requester, to: .capability("translate"), id: id).only)
        #expect(message.result == ResultHeader(callbackID: id, status: .noRoute, attempts: 0))
        #expect(message.text?.contains("'translate'") == true)
    }

    @Test("direct calls into another layer, and layer targets from agents, are UNAUTHORIZED",
          arguments: [Target.agent("repo"), .capability("db"), .layer("infra", capability: nil), .layer("infra", capability: "db"),
                      .layer("app", capability: nil)])
    func crossLayerRefused(_ target: Target) throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker", layer: "app")
        let repository = broker.register("repo", layer: "infra", capabilities: ["db"])
        let id = CallbackID.random()
        let message = try #require(broker.request(from: requester, to: target, id: id).only)
        #expect(message.peer == requester.peer)
        #expect(message.result == ResultHeader(callbackID: id, status: .unauthorized, attempts: 0))
        #expect(message.text?.contains("gateway") == true)
        #expect(broker.core.counters.accepted == 0)
        #expect(broker.inFlight(repository.id) == 0)
    }

    @Test("a REPLY from an agent that is not serving the delivery is dropped and the request stays pending")
    func replyFromWrongAgentDropped() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let solver = broker.register("solver")
        let intruder = broker.register("intruder")
        let deliver = try #require(broker.request(from: requester, to: .agent("solver")).deliveries.only)
        #expect(broker.reply(from: intruder, to: deliver).isEmpty)
        #expect(broker.core.counters.lateReplies == 1)
        #expect(broker.snapshot.pending == 1)
        #expect(broker.reply(from: solver, to: deliver).results.only?.status == .ok)
    }

    @Test("a REPLY naming a delivery the broker never made is dropped and counted")
    func replyToUnknownDelivery() {
        var broker = BrokerHarness()
        let solver = broker.register("solver")
        #expect(broker.send(.reply(Reply(deliveryID: 999, status: .ok)), from: solver).isEmpty)
        #expect(broker.core.counters.lateReplies == 1)
    }

    @Test("an agent may send a request to itself")
    func selfRequest() throws {
        var broker = BrokerHarness()
        let loner = broker.register("loner", capabilities: ["think"])
        let id = CallbackID.random()
        let delivered = try #require(broker.request(from: loner, to: .capability("think"), id: id).only)
        #expect(delivered.peer == loner.peer)
        let deliver = try #require(delivered.deliver)
        let result = try #require(broker.reply(from: loner, to: deliver).only)
        #expect(result.result == ResultHeader(callbackID: id, status: .ok, attempts: 1))
    }
}

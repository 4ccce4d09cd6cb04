import ParleyGateway
import ParleyPolicy
import ParleyWire
import Testing
import ZeroMQ

@Suite("Caller registration on the frontend")
struct RegistrationTests {
    @Test("HELLO is answered WELCOME with the gateway's heartbeat, liveness and body limit")
    func helloIsWelcomed() throws {
        var harness = try Harness.connected()

        let produced = harness.hello("orders", layer: "application", peer: peer("p1"))

        #expect(produced.front.count == 1)
        let welcome = try #require(produced.front.first)
        #expect(welcome.peer == peer("p1"))
        #expect(welcome.header == .welcome(Welcome(heartbeatMilliseconds: 1_000, liveness: 3, maxBodyBytes: 4_096)))
        #expect(produced.back.isEmpty)
    }

    @Test("a REQUEST from a connection that never sent HELLO is answered UNAVAILABLE and BYE")
    func unregisteredRequest() throws {
        var harness = try Harness.connected()
        let stranger = Caller(id: "x", layer: "application", instance: 1, peer: peer("stranger"))

        let produced = harness.request(from: stranger, .one, to: toDomain)

        #expect(produced.back.isEmpty)
        #expect(produced.audit.isEmpty)
        #expect(produced.results.first?.result.status == .unavailable)
        #expect(produced.results.first?.result.callbackID == .one)
        #expect(produced.front.last?.header == .bye)
    }

    @Test("with a key ring, a HELLO whose id or layer is not the connection's key's is refused ERROR UNAUTHORIZED")
    func keyRingChecksHello() throws {
        var harness = try Harness.connected(keyRing: testKeyRing())
        let cases: [(id: String, layer: String, identity: String?)] = [
            ("pricing", "domain", "orders"),       // someone else's id
            ("orders", "domain", "orders"),        // the wrong layer
            ("orders", "application", nil),        // not authenticated
            ("gateway-1", "application", "gateway-1"),  // a gateway key is not an agent
        ]
        for (index, attempt) in cases.enumerated() {
            let connection = peer("p\(index)")
            let produced = harness.hello(attempt.id, layer: attempt.layer, peer: connection, identity: attempt.identity)
            #expect(produced.front.count == 1)
            let error = try #require(produced.errors.first, "HELLO \(attempt) was not refused")
            #expect(error.peer == connection)
            #expect(error.error.status == .unauthorized)
            #expect(error.error.command == CommandCode.hello.rawValue)
            // Not registered: a request from that connection is not forwarded.
            let request = harness.request(from: Caller(id: attempt.id, layer: attempt.layer, instance: 1, peer: connection), .one, to: toDomain)
            #expect(request.forwards.isEmpty)
            #expect(request.results.first?.result.status == .unavailable)
        }

        let welcomed = harness.hello("orders", layer: "application", peer: peer("ok"), identity: "orders")
        #expect(welcomed.errors.isEmpty)
        guard case .welcome = welcomed.front.first?.header else {
            Issue.record("a HELLO matching its key was not welcomed: \(welcomed.front.map(\.header))")
            return
        }
    }

    @Test("a second instance for a live id is refused after a probe of the holder, and accepted when the probe finds the holder unreachable")
    func secondInstanceRefusedThenAccepted() throws {
        var harness = try Harness.connected()
        let first = try harness.register("orders", layer: "application", instance: 1)

        let second = harness.hello("orders", layer: "application", instance: 2, peer: peer("second"))
        let error = try #require(second.errors.first)
        #expect(error.error.status == .unauthorized)
        #expect(error.error.command == CommandCode.hello.rawValue)
        #expect(second.front.map(\.peer) == [first.peer, peer("second")], "the probe HEARTBEAT to the holder, then the refusal")

        harness.core.handleFront(.hello(Hello(instance: 2, agentID: "orders", layer: "application", capabilities: [])), body: nil,
                                 from: peer("second"), identity: nil, now: harness.now)
        #expect(harness.core.frontOutbox.map(\.header) == [.heartbeat])
        harness.core.clearOutboxes()  // the reactor's send of the probe failed: the holder's connection is gone
        harness.core.callerUnreachable(first.peer)
        harness.core.settleContestedHellos(now: harness.now)
        let retried = harness.take()
        #expect(retried.errors.isEmpty)
        #expect(retried.front.first?.header == .welcome(Welcome(heartbeatMilliseconds: 1_000, liveness: 3, maxBodyBytes: 4_096)))

        // The new connection is the caller now; the old one is not.
        let replacement = Caller(id: "orders", layer: "application", instance: 2, peer: peer("second"))
        #expect(harness.request(from: replacement, .one, to: toDomain).forwards.count == 1)
        #expect(harness.request(from: first, .two, to: toDomain).forwards.isEmpty)
    }

    @Test("the same instance reconnecting from a new connection takes over its id")
    func sameInstanceTakesOver() throws {
        var harness = try Harness.connected()
        let first = try harness.register("orders", layer: "application", instance: 7)

        let again = harness.hello("orders", layer: "application", instance: 7, peer: peer("new"))

        guard case .welcome = again.front.first?.header else {
            Issue.record("the same instance was not welcomed again: \(again.front.map(\.header))")
            return
        }
        let old = harness.request(from: first, .one, to: toDomain)
        #expect(old.forwards.isEmpty)
        #expect(old.front.last?.header == .bye)
    }

    @Test("after BYE the caller is no longer registered")
    func byeUnregisters() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")

        let bye = harness.front(.bye, from: orders)
        #expect(bye.front.isEmpty)

        let produced = harness.request(from: orders, .one, to: toDomain)
        #expect(produced.forwards.isEmpty)
        #expect(produced.results.first?.result.status == .unavailable)
    }

    @Test("a command the gateway does not accept from a caller is refused ERROR BAD_REQUEST naming its code")
    func unacceptedCommandIsRefused() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")

        let produced = harness.front(.reply(Reply(deliveryID: 1, status: .ok)), from: orders)

        #expect(produced.back.isEmpty)
        let error = try #require(produced.errors.first)
        #expect(error.error.status == .badRequest)
        #expect(error.error.command == CommandCode.reply.rawValue)
        #expect(error.error.callbackID == .none)
    }

    @Test("a caller silent for longer than liveness heartbeats is forgotten, and its id may be taken")
    func silentCallerIsForgotten() throws {
        var harness = try Harness.connected()
        let first = try harness.register("orders", layer: "application", instance: 1)

        // Heard at 1 000; silence limit 3 000: still there at 4 000, gone at the caller heartbeat after 4 000.
        let alive = harness.tick(at: 4_000)
        #expect(alive.front.contains { $0.peer == first.peer && $0.header == .heartbeat })
        harness.tick(at: 5_000)

        let produced = harness.request(from: first, .one, to: toDomain)
        #expect(produced.forwards.isEmpty)
        #expect(produced.results.first?.result.status == .unavailable)
        guard case .welcome = harness.hello("orders", layer: "application", instance: 2, peer: peer("new")).front.first?.header else {
            Issue.record("a new instance could not take the id of a forgotten caller")
            return
        }
    }
}

@Suite("The gateway's link to the broker")
struct BackendLinkTests {
    @Test("backendConnected sends GATEWAY_HELLO with the gateway's id and token, and WELCOME registers the gateway")
    func gatewayHello() throws {
        var harness = try Harness()
        harness.core.backendConnected()
        let produced = harness.take()

        #expect(harness.core.backendRegistered == false)
        let hello = try #require(produced.back.first)
        guard case .gatewayHello(let gatewayHello) = hello.header else {
            Issue.record("expected GATEWAY_HELLO, got \(hello.header)")
            return
        }
        #expect(gatewayHello.gatewayID == "gw-test")
        #expect(gatewayHello.token == "secret")

        harness.welcomeBackend(heartbeat: 500)
        #expect(harness.core.backendRegistered)
        #expect(harness.core.brokerHeartbeatMilliseconds == 500)
    }

    @Test("an ERROR from the broker for the GATEWAY_HELLO becomes a notice, and clearOutboxes empties it")
    func refusedRegistrationIsNoticed() throws {
        var harness = try Harness()
        harness.core.backendConnected()
        _ = harness.take()

        harness.core.handleBack(.error(ErrorNotice(status: .unauthorized, command: CommandCode.gatewayHello.rawValue)),
                                body: payload("bad token"), now: harness.now)

        #expect(harness.core.notices.count == 1)
        let notice = try #require(harness.core.notices.first)
        #expect(notice.contains("bad token"))
        #expect(notice.contains("UNAUTHORIZED") || notice.contains("unauthorized"))
        #expect(harness.core.backendRegistered == false)
        harness.core.clearOutboxes()
        #expect(harness.core.notices.isEmpty)
    }

    @Test("a lost broker ends the calls in flight with UNAVAILABLE at once and is reported once")
    func lostBrokerEndsCallsInFlight() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        _ = try harness.forwarded(from: orders, .one, to: toDomain)
        _ = try harness.forwarded(from: orders, .two, to: toDomain)

        harness.core.backendLost(cause: "silent")
        let loss = try #require(harness.core.brokerLoss)
        let produced = harness.take()

        #expect(loss.endedCalls == 2)
        #expect(Set(produced.results.map(\.result.callbackID)) == [.one, .two])
        #expect(produced.results.allSatisfy { $0.result.status == .unavailable && $0.result.attempts == 1 })
        #expect(produced.results.allSatisfy { $0.body.text?.contains("lost the broker (silent)") == true })
        #expect(harness.tick(at: harness.now + 60_000).results.isEmpty, "nothing left to time out")

        harness.core.backendLost(cause: "silent again")
        #expect(harness.core.brokerLoss == nil, "an unregistered gateway has nothing more to lose")
    }

    @Test("a BYE from the broker ends the calls in flight with UNAVAILABLE and makes the gateway register again")
    func brokerByeReRegisters() throws {
        var harness = try Harness.connected()

        let orders = try harness.register("orders", layer: "application")
        _ = try harness.forwarded(from: orders, .one, to: toDomain)

        harness.core.handleBack(.bye, body: nil, now: harness.now)
        #expect(harness.core.brokerLoss?.cause == "the broker said BYE")
        let produced = harness.take()

        #expect(harness.core.backendRegistered == false)
        #expect(produced.results.map(\.result.status) == [.unavailable], "the call in flight ends at once")
        guard case .gatewayHello = produced.back.first?.header else {
            Issue.record("expected GATEWAY_HELLO after the broker's BYE, got \(produced.back.map(\.header))")
            return
        }
    }
}

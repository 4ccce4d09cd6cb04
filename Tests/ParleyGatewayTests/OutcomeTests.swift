import ParleyGateway
import ParleyPolicy
import ParleyWire
import Testing
import ZeroMQ

@Suite("Outcomes of forwarded calls")
struct OutcomeTests {
    @Test("a RESULT from the broker reaches the caller under the caller's callback id, with its body")
    func resultReachesCaller() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let backendID = try harness.forwarded(from: orders, .one, to: toDomain, body: payload("q"))

        let produced = harness.back(.result(ResultHeader(callbackID: backendID, status: .ok, attempts: 2)), body: payload("42 EUR"))

        #expect(produced.results.count == 1)
        let answer = try #require(produced.results.first)
        #expect(answer.peer == orders.peer)
        #expect(answer.result.callbackID == .one)
        #expect(answer.result.status == .ok)
        #expect(answer.result.attempts == 2)
        guard case .payload(let body) = answer.body else {
            Issue.record("the answer's body was not passed through: \(answer.body)")
            return
        }
        #expect(body.bytes == Array("42 EUR".utf8))
        // One outcome only: a duplicate RESULT is dropped.
        #expect(harness.back(.result(ResultHeader(callbackID: backendID, status: .ok, attempts: 2))).front.isEmpty)
    }

    @Test("a RESULT for a callback id the gateway never forwarded is dropped")
    func unknownResultIsDropped() throws {
        var harness = try Harness.connected()
        _ = try harness.register("orders", layer: "application")

        // The caller's own id is not the backend id: a broker answer under it reaches nobody.
        let produced = harness.back(.result(ResultHeader(callbackID: .one, status: .ok, attempts: 1)))

        #expect(produced.front.isEmpty)
    }

    @Test("an ERROR from the broker naming a forwarded call ends that call with the ERROR's status")
    func brokerErrorEndsCall() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let backendID = try harness.forwarded(from: orders, .one, to: toDomain)

        let produced = harness.back(.error(ErrorNotice(status: .noRoute, command: CommandCode.forward.rawValue, callbackID: backendID)),
                                    body: payload("no agent in layer domain"))

        let answer = try #require(produced.results.first)
        #expect(answer.result.callbackID == .one)
        #expect(answer.result.status == .noRoute)
        #expect(harness.tick(at: 1_000 + 10_000 + 2_000).results.isEmpty)
    }

    @Test("the gateway answers TIMEOUT itself at deadline + grace when the broker never answers, and only then")
    func gatewayTimesOut() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let backendID = try harness.forwarded(from: orders, .one, to: toDomain, timeout: 3_000)
        // deadline 4 000, grace 2 000: give up at 6 000.
        #expect(harness.core.nextWakeup <= 6_000)

        // Keep the caller alive on the way (its liveness is 3 s) so that the outcome can reach it.
        for time: UInt64 in [3_000, 5_000] {
            harness.advance(to: time)
            harness.front(.heartbeat, from: orders)
            #expect(harness.tick(at: time).results.isEmpty, "TIMEOUT already at \(time)")
        }
        let early = harness.tick(at: 5_999)
        #expect(early.results.isEmpty)

        let due = harness.tick(at: 6_000)
        #expect(due.results.count == 1)
        let answer = try #require(due.results.first)
        #expect(answer.peer == orders.peer)
        #expect(answer.result.callbackID == .one)
        #expect(answer.result.status == .timeout)

        // A late RESULT from the broker is not a second outcome.
        #expect(harness.back(.result(ResultHeader(callbackID: backendID, status: .ok, attempts: 1))).results.isEmpty)
        #expect(harness.tick(at: 9_000).results.isEmpty)
    }

    @Test("EXTENDED moves the give-up time: no TIMEOUT at the old deadline + grace, TIMEOUT after the new one")
    func extendedMovesGiveUp() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let backendID = try harness.forwarded(from: orders, .one, to: toDomain, timeout: 3_000)
        // Old give-up: 1 000 + 3 000 + 2 000 = 6 000.
        harness.advance(to: 3_000)

        let extended = harness.back(.extended(Extended(callbackID: backendID, timeoutMilliseconds: 10_000)), body: payload("halfway"))
        // New deadline 13 000, give up at 15 000.

        let relayed = try #require(extended.front.first)
        #expect(relayed.peer == orders.peer)
        #expect(relayed.header == .extended(Extended(callbackID: .one, timeoutMilliseconds: 10_000)))
        #expect(relayed.body.text == "halfway")

        // Keep the caller alive on the way (its liveness is 3 s) so that the outcome can reach it.
        for time: UInt64 in [5_000, 6_000, 8_000, 10_000, 12_000, 14_000] {
            harness.advance(to: time)
            harness.front(.heartbeat, from: orders)
            #expect(harness.tick(at: time).results.isEmpty, "TIMEOUT already at \(time)")
        }
        #expect(harness.tick(at: 14_999).results.isEmpty)
        let due = harness.tick(at: 15_000)
        let answer = try #require(due.results.first)
        #expect(answer.result.callbackID == .one)
        #expect(answer.result.status == .timeout)
    }

    @Test("CANCEL of a call in flight is passed on to the broker under the backend id; of an unknown call, not at all")
    func cancelIsPassedOn() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let backendID = try harness.forwarded(from: orders, .one, to: toDomain)

        let cancel = harness.front(.cancel(.one), from: orders)
        #expect(cancel.back.map(\.header) == [.cancel(backendID)])
        #expect(cancel.front.isEmpty)

        let unknown = harness.front(.cancel(.two), from: orders)
        #expect(unknown.back.isEmpty)

        // The call still ends with the broker's outcome.
        let outcome = harness.back(.result(ResultHeader(callbackID: backendID, status: .cancelled, attempts: 0)))
        #expect(outcome.results.first?.result.callbackID == .one)
        #expect(outcome.results.first?.result.status == .cancelled)
    }

    @Test("another caller cannot cancel a call it did not make")
    func cancelByAnotherCallerIsIgnored() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let billing = try harness.register("billing", layer: "application")
        _ = try harness.forwarded(from: orders, .one, to: toDomain)

        #expect(harness.front(.cancel(.one), from: billing).back.isEmpty)
    }

    @Test("refusing a malformed REQUEST whose callback id is in flight sends ERROR, not a second RESULT")
    func refusalInFlightIsError() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        _ = try harness.forwarded(from: orders, .one, to: toDomain)

        harness.core.refuse(orders.peer, status: .badRequest, command: CommandCode.request.rawValue, callbackID: .one,
                            reason: "body too large")
        let inFlight = harness.take()
        #expect(inFlight.results.isEmpty)
        let error = try #require(inFlight.errors.first)
        #expect(error.error.status == .badRequest)
        #expect(error.error.callbackID == .one)
        #expect(error.error.command == CommandCode.request.rawValue)

        harness.core.refuse(orders.peer, status: .badRequest, command: CommandCode.request.rawValue, callbackID: .two,
                            reason: "body too large")
        let fresh = harness.take()
        #expect(fresh.errors.isEmpty)
        #expect(fresh.results.first?.result.callbackID == .two)
        #expect(fresh.results.first?.result.status == .badRequest)
        #expect(fresh.results.first?.body.text == "body too large")
    }
}

import ParleyGateway
import ParleyPolicy
import ParleyWire
import Testing
import ZeroMQ

@Suite("Gateway decisions on cross-layer requests")
struct DecisionTests {
    @Test("an allowed layer call is forwarded under the gateway's own callback id, naming the caller and its layer")
    func allowedCallIsForwarded() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        harness.advance(to: 1_500)
        let body = payload("price?")

        let produced = harness.request(from: orders, .one, to: toDomain, kind: .help, timeout: 5_000, body: body)

        #expect(produced.front.isEmpty)
        let sent = try #require(produced.forwards.first)
        #expect(produced.back.count == 1)
        let forward = sent.forward
        #expect(forward.request.callbackID != CallbackID.one)
        #expect(forward.request.callbackID != .none)
        #expect(forward.caller == "orders")
        #expect(forward.callerLayer == "application")
        #expect(forward.request.target == toDomain)
        #expect(forward.request.kind == .help)
        #expect(forward.request.timeoutMilliseconds == 5_000)
        #expect(forward.request.contentType == "text/plain")
        guard case .payload(let passed) = sent.body else {
            Issue.record("the body was not passed through as a payload: \(sent.body)")
            return
        }
        #expect(passed.bytes == Array("price?".utf8))
    }

    @Test("an allowed call is audited once as allow, naming the rule, kind, need, callback id and size")
    func allowedCallIsAudited() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        harness.advance(to: 2_345)

        let produced = harness.request(from: orders, .one, to: toDomain, kind: .help, body: payload("12345"))

        #expect(produced.audit.count == 1)
        let record = try #require(produced.audit.first)
        #expect(record.verdict == "allow")
        #expect(record.rule == "app-uses-domain")
        #expect(record.kind == "help")
        #expect(record.need == "pricing")
        #expect(record.callbackID == .one)
        #expect(record.caller == "orders")
        #expect(record.fromLayer == "application")
        #expect(record.toLayer == "domain")
        #expect(record.payloadBytes == 5)
        #expect(record.reason == "Use cases call the domain.")
        #expect(record.time == wallClockAtZero + 2_345)
    }

    @Test("a forbidden edge is answered RESULT UNAUTHORIZED naming the edge and default-deny, audited deny, not forwarded")
    func forbiddenEdgeIsDenied() throws {
        var harness = try Harness.connected()
        let pricing = try harness.register("pricing", layer: "domain")

        let produced = harness.request(from: pricing, .one, to: .layer("presentation", capability: nil))

        #expect(produced.back.isEmpty)
        #expect(produced.results.count == 1)
        let answer = try #require(produced.results.first)
        #expect(answer.peer == pricing.peer)
        #expect(answer.result.callbackID == .one)
        #expect(answer.result.status == .unauthorized)
        #expect(answer.result.attempts == 0)
        let reason = try #require(answer.body.text)
        #expect(reason.contains("domain → presentation"))
        #expect(reason.contains("default-deny"))
        #expect(produced.audit.count == 1)
        let record = try #require(produced.audit.first)
        #expect(record.verdict == "deny")
        #expect(record.rule == "default-deny")
        #expect(record.toLayer == "presentation")
    }

    @Test("a kind the rule does not allow is refused UNAUTHORIZED naming the rule")
    func kindNotAllowed() throws {
        var harness = try Harness.connected()
        let pricing = try harness.register("pricing", layer: "domain")

        let produced = harness.request(from: pricing, .one, to: toInfrastructure, kind: .help)

        #expect(produced.forwards.isEmpty)
        let answer = try #require(produced.results.first)
        #expect(answer.result.status == .unauthorized)
        let reason = try #require(answer.body.text)
        #expect(reason.contains("domain-uses-infra"))
        #expect(reason.contains("help"))
        let record = try #require(produced.audit.first)
        #expect(record.verdict == "deny")
        #expect(record.rule == "domain-uses-infra")
    }

    @Test("a payload over the rule's limit is refused UNAUTHORIZED naming the rule")
    func payloadTooLarge() throws {
        var harness = try Harness.connected()
        let pricing = try harness.register("pricing", layer: "domain")

        let atLimit = harness.request(from: pricing, .one, to: toInfrastructure, body: payload("12345678"))
        let over = harness.request(from: pricing, .two, to: toInfrastructure, body: payload("123456789"))

        #expect(atLimit.forwards.count == 1)
        #expect(over.forwards.isEmpty)
        let answer = try #require(over.results.first)
        #expect(answer.result.callbackID == .two)
        #expect(answer.result.status == .unauthorized)
        #expect(try #require(answer.body.text).contains("domain-uses-infra"))
        let record = try #require(over.audit.first)
        #expect(record.verdict == "deny")
        #expect(record.rule == "domain-uses-infra")
        #expect(record.payloadBytes == 9)
    }

    @Test("a caller over its rule's rate is answered OVERLOADED and audited deny, and admitted again after the refill")
    func rateOverIsOverloaded() throws {
        var harness = try Harness.connected()
        let pricing = try harness.register("pricing", layer: "domain")

        let first = harness.request(from: pricing, .one, to: toInfrastructure)
        let second = harness.request(from: pricing, .two, to: toInfrastructure)
        let third = harness.request(from: pricing, .three, to: toInfrastructure)

        #expect(first.forwards.count == 1)
        #expect(second.forwards.count == 1)
        #expect(third.forwards.isEmpty)
        let answer = try #require(third.results.first)
        #expect(answer.result.callbackID == .three)
        #expect(answer.result.status == .overloaded)
        #expect(try #require(answer.body.text).contains("domain-uses-infra"))
        #expect(third.audit.count == 1)
        let record = try #require(third.audit.first)
        #expect(record.verdict == "deny")
        #expect(record.rule == "domain-uses-infra")

        // 2/s refills one token every 500 ms.
        harness.advance(to: harness.now + 500)
        let later = harness.request(from: pricing, CallbackID(high: 0, low: 4), to: toInfrastructure)
        #expect(later.forwards.count == 1)
    }

    @Test("a target that is not a layer is answered BAD_REQUEST, without an audit record or a FORWARD")
    func nonLayerTargetIsBadRequest() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")

        for target in [Target.agent("pricing"), .capability("pricing")] {
            let produced = harness.request(from: orders, .one, to: target)
            #expect(produced.back.isEmpty)
            #expect(produced.audit.isEmpty)
            let answer = try #require(produced.results.first)
            #expect(answer.result.callbackID == .one)
            #expect(answer.result.status == .badRequest)
        }
    }

    @Test("while the broker has not welcomed the gateway a call is answered UNAVAILABLE, without an audit record")
    func backendNotRegisteredIsUnavailable() throws {
        var harness = try Harness()
        harness.core.backendConnected()
        _ = harness.take()
        let orders = try harness.register("orders", layer: "application")

        let produced = harness.request(from: orders, .one, to: toDomain)

        #expect(produced.back.isEmpty)
        #expect(produced.audit.isEmpty)
        let answer = try #require(produced.results.first)
        #expect(answer.result.callbackID == .one)
        #expect(answer.result.status == .unavailable)

        harness.welcomeBackend()
        #expect(harness.request(from: orders, .one, to: toDomain).forwards.count == 1)
    }

    @Test("after the backend link is lost new calls are answered UNAVAILABLE")
    func backendLostIsUnavailable() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        harness.core.backendLost(cause: "test")

        let produced = harness.request(from: orders, .one, to: toDomain)

        #expect(produced.forwards.isEmpty)
        #expect(produced.results.first?.result.status == .unavailable)
    }

    @Test("a decision whose audit record cannot be written ends UNAVAILABLE, allow or deny, and forwards nothing")
    func unwrittenAuditFailsClosed() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")

        let allowed = harness.request(from: orders, .one, to: toDomain, auditWritten: false)
        let denied = harness.request(from: orders, .two, to: .layer("presentation", capability: nil), auditWritten: false)

        for (produced, verdict) in [(allowed, "allow"), (denied, "deny")] {
            #expect(produced.audit.map(\.verdict) == [verdict])
            #expect(produced.back.isEmpty)
            let answer = try #require(produced.results.first)
            #expect(produced.results.count == 1)
            #expect(answer.result.status == .unavailable)
            #expect(answer.result.attempts == 0)
            #expect(answer.body.text?.contains("audit trail") == true)
        }
        // Nothing stays in flight: the same call goes through once its record can be written.
        #expect(try harness.forwarded(from: orders, .one, to: toDomain) != .one)
    }

    @Test("a retry of a call in flight forwards nothing new and is not audited again")
    func retryInFlightForwardsNothing() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let backendID = try harness.forwarded(from: orders, .one, to: toDomain)

        let retry = harness.request(from: orders, .one, to: toDomain)

        #expect(retry.back.isEmpty)
        #expect(retry.front.isEmpty)
        #expect(retry.audit.isEmpty)
        // Once answered, the same id is a new call again, under the same backend id.
        harness.back(.result(ResultHeader(callbackID: backendID, status: .ok, attempts: 1)))
        let again = try harness.forwarded(from: orders, .one, to: toDomain)
        #expect(again == backendID)
    }

    @Test("the same callback id from two callers is forwarded under two different backend ids")
    func backendIDsDifferPerCaller() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let billing = try harness.register("billing", layer: "application")

        let first = try harness.forwarded(from: orders, .one, to: toDomain)
        let second = try harness.forwarded(from: billing, .one, to: toDomain)

        #expect(first != second)
    }

    @Test("reload switches the decisions for new calls")
    func reloadSwitchesDecisions() throws {
        var harness = try Harness.connected()
        let orders = try harness.register("orders", layer: "application")
        let ui = try harness.register("web-ui", layer: "presentation")
        #expect(harness.request(from: orders, .one, to: toDomain).forwards.count == 1)
        #expect(harness.request(from: ui, .one, to: .layer("application", capability: nil)).results.first?.result.status == .unauthorized)

        harness.core.reload(try testPolicy(reloadedPolicyText))

        let denied = harness.request(from: orders, .two, to: toDomain)
        #expect(denied.forwards.isEmpty)
        #expect(denied.results.first?.result.status == .unauthorized)
        #expect(denied.audit.first?.rule == "default-deny")
        let allowed = harness.request(from: ui, .two, to: .layer("application", capability: nil))
        #expect(allowed.forwards.count == 1)
        #expect(allowed.audit.first?.rule == "ui-uses-app")
        #expect(allowed.audit.first?.verdict == "allow")
    }
}

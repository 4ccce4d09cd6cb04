import ParleyBrokerCore
import ParleyWire
import Testing

// Regression tests for what the core fuzzer (fuzz/CoreFuzzer.swift, `make fuzz`) found. Each test replays the
// shortest form of a failing fuzz script through the public API; the script itself is kept in
// fuzz/corpus/core/regression-* so the fuzzer replays it too (FUZZ_TRACE=1 .build/fuzz/fuzz-core <file> prints it).
//
// registrationChangesKind (fuzz/corpus/core/regression-gateway-takes-over-agent-id): a GATEWAY_HELLO naming an
// agent's id took over the agent's record when that agent was away (or had the same instance), and requests
// addressed to the agent were then delivered to the gateway; the reverse let an agent take a gateway's id and
// receive the gateway's RESULTs. Fixed in BrokerCore+Agents.swift (admit refuses an id held by the other kind)
// and BrokerCore+Requests.swift (chooseAgent never picks a gateway).

@Suite("Fuzzer findings in the broker core stay fixed")
struct FuzzRegressionTests {
    private static func withGatewayToken() -> BrokerConfiguration {
        // Any id may be a gateway's here (no reserved ids), so the clashes between agents and gateways can happen.
        .forTests { $0.gatewayToken = "tok"; $0.gatewayIDs = nil }
    }

    @Test("a gateway registering under an away agent's id does not receive that agent's requests (fuzz: registrationChangesKind)")
    func gatewayCannotTakeOverAnAgentID() throws {
        var broker = BrokerHarness(Self.withGatewayToken())
        let asker = broker.register("asker")
        let solver = broker.register("solver")
        let id = CallbackID.random()
        let first = broker.request(from: asker, to: .agent("solver"), id: id)
        #expect(first.deliveries.only?.callbackID == id)
        // The solver's connection drops: the request waits for it to come back.
        _ = broker.direct { core, now in core.peerUnreachable(solver.peer, now: now) }
        #expect(broker.agentState("solver") == "away")

        let gatewayPeer = broker.newPeer()
        let answer = broker.send(.gatewayHello(GatewayHello(instance: 77, gatewayID: "solver", token: "tok")), from: gatewayPeer)
        #expect(answer.deliveries.isEmpty, "the agent's request was delivered to a gateway: \(answer.map(\.header))")
        #expect(answer.errors.first?.status == .unauthorized, "a gateway was admitted under agent id 'solver'")
        // Whatever the registration did, the request still ends exactly once.
        var results: [ResultHeader] = []
        for _ in 0..<7 {
            broker.heartbeat(asker)
            results += broker.advance(by: 9_000).to(asker).results
        }
        #expect(results.filter { $0.callbackID == id }.map(\.status) == [.timeout])
        #expect(broker.snapshot.pending == 0)
    }

    @Test("an agent registering under an away gateway's id does not receive the gateway's results (fuzz: registrationChangesKind)")
    func agentCannotTakeOverAGatewayID() throws {
        var broker = BrokerHarness(Self.withGatewayToken())
        let gatewayPeer = broker.newPeer()
        let welcome = broker.send(.gatewayHello(GatewayHello(instance: 1, gatewayID: "gw", token: "tok")), from: gatewayPeer)
        #expect(welcome.only?.isWelcome == true)
        let solver = broker.register("solver", layer: "domain")
        let id = CallbackID.random()
        let forward = Forward(request: Request(callbackID: id, kind: .call, timeoutMilliseconds: 60_000, target: .agent("solver"),
                                               contentType: "application/json"),
                              caller: "ui", callerLayer: "presentation")
        let delivered = broker.send(.forward(forward), body: TestPayload("question"), from: gatewayPeer)
        let deliver = try #require(delivered.deliveries.only)
        // The gateway restarts; meanwhile an ordinary agent says HELLO with the gateway's id.
        _ = broker.direct { core, now in core.peerUnreachable(gatewayPeer, now: now) }
        let (intruder, hello) = broker.hello("gw", layer: "app")
        let reply = broker.reply(from: solver, to: deliver, body: TestPayload("cross-layer answer"))
        #expect(hello.errors.first?.status == .unauthorized, "an agent was admitted under gateway id 'gw'")
        #expect(reply.to(intruder).results.isEmpty, "the gateway's RESULT went to an agent: \(reply.map(\.header))")
        // The real gateway coming back (same instance) must get the outcome.
        let back = broker.send(.gatewayHello(GatewayHello(instance: 1, gatewayID: "gw", token: "tok")), from: broker.newPeer())
        #expect(back.first?.isWelcome == true, "the gateway could not register again: \(back.map(\.header))")
    }
}

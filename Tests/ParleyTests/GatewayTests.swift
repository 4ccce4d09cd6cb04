import Foundation
import Parley
import ParleyWire
import Testing
import ZeroMQ

extension BrokerIntegration {
    @Suite("Cross-layer gateway")
    struct GatewayTests {
        struct Lookup: Codable, Equatable { var key: String }

        /// A broker, a gateway with `rules`, an infrastructure agent offering `persistence`, and a domain caller.
        private func system(_ folder: TemporaryFolder, rules: String = domainToInfrastructureRule())
            async throws -> (BrokerProcess, GatewayProcess, Agent, Agent) {
            let broker = try await BrokerProcess()
            let policy = try folder.write("policy.yaml", policyYAML(rules))
            let gateway = try await GatewayProcess(broker: broker, policy: policy, auditLog: folder.path + "/audit.jsonl")
            let infrastructure = try await connectedAgent("db", layer: "infrastructure", capabilities: ["persistence"], broker: broker) { request in
                try .answer(["stored": try request.decode(Lookup.self).key, "caller": request.requester, "from": request.requesterLayer])
            }
            let domain = try await connectedAgent("orders", layer: "domain", broker: broker, gateway: gateway.endpoint)
            return (broker, gateway, infrastructure, domain)
        }

        @Test("an allowed edge works end to end: domain → gateway → broker → infrastructure and back, audited")
        func allowedEdge() async throws {
            let folder = try TemporaryFolder()
            let (broker, gateway, infrastructure, domain) = try await system(folder)
            defer { gateway.stop(); broker.stop() }
            let answer: [String: String] = try await domain.domainToInfrastructure(context: Lookup(key: "order-7"), need: "persistence")
            #expect(answer == ["stored": "order-7", "caller": "orders", "from": "domain"])
            try await waitUntil("the audit record is written") { !folder.lines("audit.jsonl").isEmpty }
            let record = try JSONSerialization.jsonObject(with: Data(folder.lines("audit.jsonl")[0].utf8)) as? [String: Any]
            #expect(record?["verdict"] as? String == "allow")
            #expect(record?["rule"] as? String == "domain-uses-infrastructure")
            #expect(record?["caller"] as? String == "orders")
            #expect(record?["from_layer"] as? String == "domain")
            let time = try #require(record?["time"] as? Int)
            let at = try #require(record?["at"] as? String)
            #expect(at.count == 24 && at.hasSuffix("Z"), "\(at)")
            let parsed = try Date(at, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true))
            #expect(Int((parsed.timeIntervalSince1970 * 1_000).rounded()) == time, "at \(at) and time \(time) disagree")
            #expect(record?["to_layer"] as? String == "infrastructure")
            #expect(record?["need"] as? String == "persistence")
            #expect(record?["kind"] as? String == "call")
            #expect((record?["callback_id"] as? String)?.count == 32)
            await domain.close(); await infrastructure.close()
        }

        @Test("a forbidden edge gets UNAUTHORIZED naming the edge and the rule, and an audit record")
        func forbiddenEdge() async throws {
            let folder = try TemporaryFolder()
            let (broker, gateway, infrastructure, domain) = try await system(folder)
            defer { gateway.stop(); broker.stop() }
            let presenter = try await connectedAgent("screen", layer: "presentation", capabilities: ["render"], broker: broker) { _ in
                .answer(bytes: Array("rendered".utf8))
            }
            let outcome = try await domain.executeOutcome(LayerCallback(toLayer: "presentation", need: "render", payload: ["x": 1], retries: 0))
            #expect(outcome.status == .unauthorized)
            #expect(outcome.text.contains("domain → presentation"))
            #expect(outcome.text.contains("default-deny"))
            try await waitUntil("the audit record is written") { !folder.lines("audit.jsonl").isEmpty }
            let line = folder.lines("audit.jsonl")[0]
            #expect(line.contains(#""verdict":"deny""#) && line.contains(#""rule":"default-deny""#))
            await presenter.close(); await domain.close(); await infrastructure.close()
        }

        @Test("progress reported by the handler extends a cross-layer call past its first deadline and the gateway's grace")
        func progressThroughGateway() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: folder)
            defer { gateway.stop() }
            let thinker = try await connectedAgent("slow-db", layer: "infrastructure", capabilities: ["persistence"], broker: broker) { request in
                for _ in 0..<4 {
                    request.progress(extendBy: .seconds(2), note: "still writing")
                    try await Task.sleep(for: .milliseconds(800))
                }
                return .answer(bytes: Array("\"written\"".utf8))
            }
            let domain = try await connectedAgent("orders", layer: "domain", broker: broker, gateway: gateway.endpoint)
            let outcome = try await domain.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence", payload: "x",
                                                                        timeout: .milliseconds(700), retries: 0))
            #expect(outcome.status == .ok, "\(outcome.text)")
            await domain.close(); await thinker.close()
        }

        @Test("a caller over its rate gets OVERLOADED")
        func rateLimit() async throws {
            let folder = try TemporaryFolder()
            let (broker, gateway, infrastructure, domain) = try await system(folder, rules: domainToInfrastructureRule(rate: "2/min"))
            defer { gateway.stop(); broker.stop() }
            var statuses: [Status] = []
            for index in 0..<4 {
                let outcome = try await domain.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence",
                                                                            payload: Lookup(key: "\(index)"), retries: 0))
                statuses.append(outcome.status)
            }
            #expect(statuses == [.ok, .ok, .overloaded, .overloaded])
            await domain.close(); await infrastructure.close()
        }

        @Test("the gateway killed: cross-layer calls end UNAVAILABLE within their deadline; restarted: calls work again")
        func failClosed() async throws {
            let folder = try TemporaryFolder()
            let (broker, gateway, infrastructure, domain) = try await system(folder)
            defer { broker.stop() }
            let _: [String: String] = try await domain.domainToInfrastructure(context: Lookup(key: "warm-up"), need: "persistence")
            await gateway.kill()
            let clock = ContinuousClock()
            let start = clock.now
            let outcome = try await domain.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence",
                                                                        payload: Lookup(key: "lost"), timeout: .seconds(2), retries: 0))
            #expect(outcome.status == .unavailable)
            #expect(clock.now - start < .seconds(4), "ended within its deadline (plus scheduling slack)")
            let restarted = try await GatewayProcess(broker: broker, policy: folder.path + "/policy.yaml",
                                                     auditLog: folder.path + "/audit.jsonl", endpoint: gateway.endpoint)
            defer { restarted.stop() }
            let answer: [String: String] = try await domain.domainToInfrastructure(context: Lookup(key: "back"), need: "persistence",
                                                                                 timeout: .seconds(20))
            #expect(answer["stored"] == "back")
            await domain.close(); await infrastructure.close()
        }

        @Test("a bad policy file stops the gateway naming the line; a bad reload keeps the old policy")
        func badPolicy() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let broken = try folder.write("broken.yaml", policyYAML(domainToInfrastructureRule()).replacingOccurrences(of: "to: infrastructure", with: "to: infrastructur"))
            let refused = try await runToExit("parley-gateway", ["--endpoint", "tcp://127.0.0.1:*", "--broker", broker.endpoint, "--policy", broken])
            #expect(refused.status != 0)
            #expect(refused.errors.contains("broken.yaml:8:"), "\(refused.errors)")
            #expect(refused.errors.contains("infrastructur"))

            let (secondBroker, gateway, infrastructure, domain) = try await system(folder)
            defer { gateway.stop(); secondBroker.stop() }
            try folder.write("policy.yaml", "version: 1\nlayers: [domain\n")
            kill(gateway.child.processIdentifier, SIGHUP)
            try await Task.sleep(for: .milliseconds(300))
            #expect(gateway.child.isRunning)
            let answer: [String: String] = try await domain.domainToInfrastructure(context: Lookup(key: "still"), need: "persistence")
            #expect(answer["stored"] == "still", "the old policy still allows the edge")
            await domain.close(); await infrastructure.close()
        }
    }
}

import Foundation
import Parley
import ParleyWire
import Testing
import ZeroMQ

extension BrokerIntegration {
    @Suite("CURVE identities")
    struct CurveTests {
        struct KeyPair {
            let publicKey: String
            let secretKey: String
            init() throws { (publicKey, secretKey) = try Curve.generateKeyPair() }
        }

        /// Broker and gateway with CURVE: the broker knows the agents and the gateway; the gateway knows the agents.
        final class SecureSystem: Sendable {
            let folder: TemporaryFolder
            let broker: BrokerProcess
            let gateway: GatewayProcess
            let brokerKey: String
            let gatewayKey: String

            /// `capabilities` gives an agent's `capabilities` list in the keys files, by agent id; `observers` are
            /// marked `observer: true`, `admins` `admin: true`; `readers` gives an agent's `readers` list, by agent id.
            init(agents: [(id: String, layer: String, key: KeyPair)], capabilities: [String: [String]] = [:],
                 observers: Set<String> = [], admins: Set<String> = [], readers: [String: [String]] = [:]) async throws {
                folder = try TemporaryFolder()
                let brokerPair = try KeyPair()
                let gatewayPair = try KeyPair()
                brokerKey = brokerPair.publicKey
                gatewayKey = gatewayPair.publicKey
                let brokerSecret = try folder.write("broker.key", brokerPair.secretKey + "\n")
                let gatewaySecret = try folder.write("gateway.key", gatewayPair.secretKey + "\n")
                let agentEntries = agents.map { agent in
                    "  - id: \(agent.id)\n    layer: \(agent.layer)\n    public: \"\(agent.key.publicKey)\"\n"
                        + (capabilities[agent.id].map { "    capabilities: [\($0.joined(separator: ", "))]\n" } ?? "")
                        + (observers.contains(agent.id) ? "    observer: true\n" : "")
                        + (admins.contains(agent.id) ? "    admin: true\n" : "")
                        + (readers[agent.id].map { "    readers: [\($0.joined(separator: ", "))]\n" } ?? "")
                }.joined()
                let brokerKeys = try folder.write("broker-keys.yaml", "keys:\n" + agentEntries
                                                  + "  - id: gateway\n    role: gateway\n    public: \"\(gatewayPair.publicKey)\"\n")
                let gatewayKeys = try folder.write("gateway-keys.yaml", "keys:\n" + agentEntries)
                let policy = try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule()))
                broker = try await BrokerProcess(["--secret-key", brokerSecret, "--keys", brokerKeys, "--log-format", "json"],
                                                 captureStandardError: true)
                gateway = try await GatewayProcess(broker: broker, policy: policy, auditLog: folder.path + "/audit.jsonl",
                                                   arguments: ["--secret-key", gatewaySecret, "--keys", gatewayKeys, "--broker-key", brokerPair.publicKey])
            }

            func keys(_ pair: KeyPair) -> CurveKeys {
                CurveKeys(publicKey: pair.publicKey, secretKey: pair.secretKey, brokerKey: brokerKey, gatewayKey: gatewayKey)
            }

            func stop() { gateway.stop(); broker.stop() }
        }

        @Test("the CLI reaches a CURVE broker with --secret-key and --broker-key, and says at once why not without them, with an unknown key or a wrong broker key")
        func commandLineWithKeys() async throws {
            let operatorKey = try KeyPair(), strangerKey = try KeyPair()
            let system = try await SecureSystem(agents: [("ops", "domain", operatorKey)], observers: ["ops"])
            defer { system.stop() }
            let secret = try system.folder.write("ops.key", operatorKey.secretKey + "\n")
            let stranger = try system.folder.write("stranger.key", strangerKey.secretKey + "\n")
            let brokerKey = try system.folder.write("broker.pub", system.brokerKey + "\n")
            let wrongKey = try system.folder.write("wrong.pub", strangerKey.publicKey + "\n")
            let endpoints = ["--broker", system.broker.endpoint, "--events", system.broker.eventsEndpoint]
            let keys = ["--secret-key", secret, "--broker-key", brokerKey]

            let status = try await runToExit("parley", ["status"] + endpoints + keys)
            #expect(status.status == 0 && status.output.contains("agents: "), "\(status.output) \(status.errors)")
            let health = try await runToExit("parley", ["health"] + endpoints + keys)
            #expect(health.status == 0 && health.output.hasPrefix("healthy"), "\(health.output) \(health.errors)")
            let published = try await runToExit("parley", ["publish", "--topic", "callback.ops.on_cli"] + endpoints + keys)
            #expect(published.status == 0 && published.output.contains("#1"), "\(published.output) \(published.errors)")

            let cases: [(arguments: [String], says: String)] = [
                ([], "require"),  // "requires CURVE", or "may require CURVE" when the connection closes before the greeting is read
                (["--secret-key", stranger, "--broker-key", brokerKey], "refused this client's key"),
                (["--secret-key", secret, "--broker-key", wrongKey], "not the server's public key"),
            ]
            for (arguments, says) in cases {
                let refused = try await runToExit("parley", ["status"] + endpoints + arguments, timeout: .seconds(30))
                #expect(refused.status != 0 && refused.errors.contains(says), "\(arguments): \(refused.output) \(refused.errors)")
            }
            let plain = try await BrokerProcess()
            defer { plain.stop() }
            let needless = try await runToExit("parley", ["status", "--broker", plain.endpoint] + keys, timeout: .seconds(30))
            #expect(needless.status != 0 && needless.errors.contains("does not use CURVE"), "\(needless.output) \(needless.errors)")
        }

        @Test("with CURVE, `parley admin evict` is refused to an identity not marked admin (even an observer) and obeyed for an admin; both are audited in the broker's log")
        func adminEvict() async throws {
            let opsKey = try KeyPair(), uiKey = try KeyPair(), workerKey = try KeyPair()
            let system = try await SecureSystem(agents: [("ops", "domain", opsKey), ("ui", "domain", uiKey), ("worker", "domain", workerKey)],
                                                observers: ["ui", "ops"], admins: ["ops"])
            defer { system.stop() }
            let worker = try await connectedAgent("worker", broker: system.broker, curve: system.keys(workerKey))
            let brokerKey = try system.folder.write("broker.pub", system.brokerKey + "\n")
            func evict(as pair: KeyPair, _ name: String) async throws -> (status: Int32, output: String, errors: String) {
                let secret = try system.folder.write("\(name).key", pair.secretKey + "\n")
                return try await runToExit("parley", ["admin", "evict", "worker", "--broker", system.broker.endpoint,
                                                      "--secret-key", secret, "--broker-key", brokerKey])
            }

            let refused = try await evict(as: uiKey, "ui")
            #expect(refused.status == 1, "\(refused.output) \(refused.errors)")
            #expect(refused.output.contains("refused (UNAUTHORIZED): identity 'ui' is not marked admin in the keys file"))
            let obeyed = try await evict(as: opsKey, "ops")
            #expect(obeyed.status == 0 && obeyed.output.contains("agent 'worker' evicted"), "\(obeyed.output) \(obeyed.errors)")

            let adminLines = { system.broker.child.stderrLines.filter { $0.contains(#""event":"admin""#) } }
            try await waitUntil("both admin records are in the broker's log") { adminLines().count == 2 }
            let audit = adminLines()
            #expect(audit[0].contains(#""identity":"ui""#) && audit[0].contains(#""status":"UNAUTHORIZED""#), "\(audit[0])")
            #expect(audit[1].contains(#""identity":"ops""#) && audit[1].contains(#""status":"OK""#)
                    && audit[1].contains(#""action":"evict""#) && audit[1].contains(#""target":"worker""#), "\(audit[1])")
            await worker.close()
        }

        @Test("with CURVE keys, an allowed cross-layer call works end to end and the handler sees the authenticated caller")
        func allowedWithKeys() async throws {
            let ordersKey = try KeyPair(), dbKey = try KeyPair()
            let system = try await SecureSystem(agents: [("orders", "domain", ordersKey), ("db", "infrastructure", dbKey)])
            defer { system.stop() }
            let db = try await connectedAgent("db", layer: "infrastructure", capabilities: ["persistence"], broker: system.broker,
                                              curve: system.keys(dbKey)) { request in
                .answer(bytes: Array("\(request.requester)@\(request.requesterLayer)".utf8))
            }
            let orders = try await connectedAgent("orders", layer: "domain", broker: system.broker, gateway: system.gateway.endpoint,
                                                  curve: system.keys(ordersKey))
            let outcome = try await orders.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence", payload: "x"))
            #expect(outcome.status == .ok)
            #expect(outcome.text == "orders@domain")
            await orders.close(); await db.close()
        }

        @Test("an agent claiming domain with a key registered as infrastructure is refused by the broker and the gateway")
        func spoofedLayer() async throws {
            let spooferKey = try KeyPair()
            let system = try await SecureSystem(agents: [("spoofer", "infrastructure", spooferKey)])
            defer { system.stop() }
            await #expect {
                _ = try await connectedAgent("spoofer", layer: "domain", broker: system.broker, curve: system.keys(spooferKey))
            } throws: { error in
                guard case ParleyError.registrationRefused(.unauthorized, let reason) = error else { return false }
                return reason.contains("registered in layer 'infrastructure', not 'domain'")
            }
            // Directly at the gateway: a HELLO claiming domain on the infrastructure key.
            let honest = try await connectedAgent("spoofer", layer: "infrastructure", broker: system.broker,
                                                  gateway: system.gateway.endpoint, curve: system.keys(spooferKey))
            let outcome = try await honest.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence", payload: "x", retries: 0))
            #expect(outcome.status == .unauthorized, "infrastructure → infrastructure is not in the policy: \(outcome.text)")
            await honest.close()
        }

        @Test("an agent cannot take a capability the keys file reserves to another, nor offer one outside its own list")
        func capabilityHijack() async throws {
            let pricingKey = try KeyPair(), thiefKey = try KeyPair(), callerKey = try KeyPair()
            let system = try await SecureSystem(agents: [("pricing", "domain", pricingKey), ("thief", "domain", thiefKey),
                                                         ("caller", "domain", callerKey)],
                                                capabilities: ["pricing": ["quote"]])
            defer { system.stop() }
            let pricing = try await connectedAgent("pricing", capabilities: ["quote"], broker: system.broker, curve: system.keys(pricingKey)) { _ in
                .answer(bytes: Array("pricing".utf8))
            }
            await #expect {
                _ = try await connectedAgent("thief", capabilities: ["quote"], broker: system.broker, curve: system.keys(thiefKey))
            } throws: { error in
                guard case ParleyError.registrationRefused(.unauthorized, let reason) = error else { return false }
                return reason == "capability 'quote' is reserved to pricing by the keys file"
            }
            await #expect {
                _ = try await connectedAgent("pricing", capabilities: ["quote", "search"], broker: system.broker, curve: system.keys(pricingKey))
            } throws: { error in
                guard case ParleyError.registrationRefused(.unauthorized, let reason) = error else { return false }
                return reason == "agent 'pricing' may not offer capability 'search' (its keys entry lists quote)"
            }
            // The thief may still offer what nobody reserved; every quote goes to pricing.
            let thief = try await connectedAgent("thief", capabilities: ["search"], broker: system.broker, curve: system.keys(thiefKey)) { _ in
                .answer(bytes: Array("thief".utf8))
            }
            let caller = try await connectedAgent("caller", broker: system.broker, curve: system.keys(callerKey))
            for _ in 0..<10 {
                let outcome = await caller.send(.help, to: .capability("quote"), body: [], timeout: .seconds(5))
                #expect(outcome.status == .ok && outcome.text == "pricing")
            }
            await caller.close(); await thief.close(); await pricing.close()
        }

        @Test("with CURVE, STATUS lists the agents only to observers; others get the counters")
        func statusForObserversOnly() async throws {
            let watcherKey = try KeyPair(), plainKey = try KeyPair()
            let system = try await SecureSystem(agents: [("watcher", "domain", watcherKey), ("plain", "domain", plainKey)],
                                                observers: ["watcher"])
            defer { system.stop() }
            let plain = try await connectedAgent("plain", broker: system.broker, curve: system.keys(plainKey))
            let full = try await curveStatus(system, watcherKey)
            #expect(full.agents.map(\.id).contains("plain") && full.agentsWithheld == nil)
            let reduced = try await curveStatus(system, plainKey)
            #expect(reduced.agents.isEmpty && reduced.agentsWithheld == true)
            #expect(reduced.pending == full.pending && reduced.accepted == full.accepted)
            await plain.close()
        }

        /// STATUS over a CURVE DEALER authenticated with `pair`, on its own thread.
        private func curveStatus(_ system: SecureSystem, _ pair: KeyPair) async throws -> BrokerSnapshot {
            let frames = try await curveExchange(system, pair, .status)
            guard frames.count == 2 else { throw TestFailure("no STATUS_REPLY") }
            return try JSONDecoder().decode(BrokerSnapshot.self, from: Data(frames[1]))
        }

        /// Sends `header` from a CURVE DEALER authenticated with `pair` and returns the first answer's frames, on its
        /// own thread.
        private func curveExchange(_ system: SecureSystem, _ pair: KeyPair, _ header: Header) async throws -> [[UInt8]] {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(with: Result {
                        let context = try Context()
                        let socket = try Socket(context, type: .dealer)
                        defer { socket.close() }
                        try socket.setLinger(milliseconds: 0)
                        try socket.setCurveKeys(publicKey: pair.publicKey, secretKey: pair.secretKey)
                        try socket.setCurveServerKey(system.brokerKey)
                        try socket.setReceiveTimeout(milliseconds: 5_000)
                        try socket.connect(system.broker.endpoint)
                        _ = try socket.send(HeaderEncoder.encode(header))
                        guard let frames = try socket.receiveMultipart() else { throw TestFailure("no answer to \(header)") }
                        return frames.map(\.bytes)
                    })
                }
            }
        }

        @Test("with CURVE, events of an agent whose keys entry lists readers reach only them: others' subscriptions and REPLAYs are refused")
        func readersOnly() async throws {
            let pricingKey = try KeyPair(), ordersKey = try KeyPair(), spyKey = try KeyPair(), newsKey = try KeyPair()
            let system = try await SecureSystem(agents: [("pricing", "domain", pricingKey), ("orders", "domain", ordersKey),
                                                         ("spy", "domain", spyKey), ("news", "domain", newsKey)],
                                                readers: ["pricing": ["orders"]])
            defer { system.stop() }
            let pricing = try await connectedAgent("pricing", broker: system.broker, curve: system.keys(pricingKey))
            let news = try await connectedAgent("news", broker: system.broker, curve: system.keys(newsKey))
            let orders = try await connectedAgent("orders", broker: system.broker, curve: system.keys(ordersKey))
            let spy = try await connectedAgent("spy", broker: system.broker, curve: system.keys(spyKey))
            let received = [
                collect(try orders.subscribe(to: "pricing")), collect(try spy.subscribe(to: "pricing")),
                collect(try spy.subscribe(to: "news")), collect(spy.subscribe([.topic(Topic(agent: "pricing", event: "quote")!)])),
            ]
            try await Task.sleep(for: .milliseconds(500))  // subscriptions travel to the broker
            for index in 0..<5 {
                _ = try await pricing.publish("quote", ["price": index])
                _ = try await news.publish("headline", ["n": index])
            }
            try await Task.sleep(for: .seconds(2))
            for task in received { task.cancel() }
            var seen: [Int] = []
            for task in received { seen.append(await task.value) }
            #expect(seen == [5, 0, 5, 0], "orders ← pricing, spy ← pricing, spy ← news, spy ← pricing's topic: \(seen)")

            let replay = try await curveExchange(system, spyKey, .replay(Replay(selector: .agent("pricing"), from: 1)))
            #expect(try HeaderDecoder.decode(replay[0]) == .error(ErrorNotice(status: .unauthorized, command: CommandCode.replay.rawValue)))
            #expect(String(decoding: replay.count > 1 ? replay[1] : [], as: UTF8.self) == "identity 'spy' may not read the events of 'pricing'")
            let allowed = try await curveExchange(system, ordersKey, .replay(Replay(selector: .agent("pricing"), from: 1)))
            guard case .event(let first) = try HeaderDecoder.decode(allowed[0]) else { throw TestFailure("orders' REPLAY: \(allowed)") }
            #expect(first.sequence == 1)
            let own = try await curveExchange(system, pricingKey, .replay(Replay(selector: .topic(Topic(agent: "pricing", event: "quote")!), from: 5)))
            guard case .event = try HeaderDecoder.decode(own[0]) else { throw TestFailure("pricing's own REPLAY: \(own)") }
            await spy.close(); await orders.close(); await news.close(); await pricing.close()
        }

        /// Counts the events a subscription delivers until its task is cancelled.
        private func collect(_ subscription: EventSubscription) -> Task<Int, Never> {
            Task {
                var count = 0
                for await notice in subscription { if case .event = notice { count += 1 } }
                return count
            }
        }

        @Test("a client without a valid key cannot connect to a CURVE endpoint")
        func unknownKey() async throws {
            let known = try KeyPair(), stranger = try KeyPair()
            let system = try await SecureSystem(agents: [("known", "domain", known)])
            defer { system.stop() }
            for curve in [system.keys(stranger), nil] {
                var configuration = AgentConfiguration(id: "known", layer: "domain", brokerEndpoint: system.broker.endpoint,
                                                       eventsEndpoint: system.broker.eventsEndpoint)
                configuration.curve = curve
                configuration.connectTimeout = .seconds(2)
                let agent = try Agent(configuration)
                await #expect {
                    try await agent.connect()
                } throws: { error in
                    if case ParleyError.brokerUnreachable = error { return true }
                    return false
                }
            }
            let member = try await connectedAgent("known", layer: "domain", broker: system.broker, curve: system.keys(known))
            await member.close()
        }
    }
}

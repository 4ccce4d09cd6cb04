import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    /// The gateway when things around it fail: its audit trail, its standard output, signals, the broker leaving.
    @Suite("Gateway failure modes")
    struct GatewayFailureTests {
        /// Sends a call to infrastructure's persistence with a 60 s deadline.
        private func startCall(_ agent: RawAgent, _ id: CallbackID) async throws {
            try await agent.send(.request(Request(callbackID: id, kind: .call, timeoutMilliseconds: 60_000,
                                                  target: .layer("infrastructure", capability: "persistence"), contentType: "application/json")),
                                 body: Array("{}".utf8))
        }

        /// Makes a call and returns its RESULT.
        private func call(_ agent: RawAgent, _ id: CallbackID = .random()) async throws -> (result: ResultHeader, text: String)? {
            try await startCall(agent, id)
            return try await agent.nextResult()
        }

        /// A broker (with `brokerArguments`), a gateway (with `gatewayArguments`, logs captured), an infrastructure agent
        /// whose handler sleeps for two minutes, and a domain caller whose call `id` that handler is running.
        private func callInFlight(_ folder: TemporaryFolder, _ id: CallbackID, brokerArguments: [String] = [],
                                  gatewayArguments: [String] = []) async throws -> (BrokerProcess, GatewayProcess, Agent, RawAgent) {
            let broker = try await BrokerProcess(brokerArguments)
            let gateway = try await GatewayProcess(broker: broker, in: folder, arguments: gatewayArguments, captureStandardError: true)
            let store = try await connectedAgent("store", layer: "infrastructure", capabilities: ["persistence"], broker: broker) { _ in
                try folder.write("started", "")
                try await Task.sleep(for: .seconds(120))
                return .answer(bytes: Array("\"late\"".utf8))
            }
            let orders = try await RawAgent.caller(gateway)
            try await startCall(orders, id)
            try await waitUntil("the handler runs") { FileManager.default.fileExists(atPath: folder.path + "/started") }
            return (broker, gateway, store, orders)
        }

        private func count(_ event: String, in process: TestProcess) -> Int {
            process.stderrLines.filter { $0.contains("event=\(event)") }.count
        }

        @Test("an audit trail on /dev/full refuses every call UNAVAILABLE, forwards nothing, logs once and counts each")
        func auditOnFullDevice() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let metricsPort = try freePort()
            let gateway = try await GatewayProcess(broker: broker, policy: try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule())),
                                                   auditLog: "/dev/full", arguments: ["--metrics-port", "\(metricsPort)", "--sample-ms", "100"],
                                                   captureStandardError: true)
            defer { gateway.stop() }
            let orders = try await RawAgent.caller(gateway)
            defer { orders.close() }
            for _ in 0..<3 {
                // Forwarded, the call would end NO_ROUTE at the broker (no agent offers persistence).
                let outcome = try #require(try await call(orders))
                #expect(outcome.result.status == .unavailable)
                #expect(outcome.result.attempts == 0)
                #expect(outcome.text == "the gateway cannot write its audit trail; retry later")
            }
            try await waitUntil("the metrics count the three unwritten records") {
                try await scrape("http://127.0.0.1:\(metricsPort)/metrics").value("parley_gateway_audit_failures_total") == 3
            }
            #expect(count("audit_failed", in: gateway.child) == 1, "\(gateway.child.stderrLines)")
            #expect(gateway.child.stderrLines.contains { $0.contains("event=audit_failed") && $0.contains("No space left on device") })
        }

        @Test("calls resume by themselves once the audit trail can be written again, and the recovery is logged once")
        func auditRecovers() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let link = folder.path + "/audit.jsonl"
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "/dev/full")
            let gateway = try await GatewayProcess(broker: broker, policy: try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule())),
                                                   auditLog: link, captureStandardError: true)
            defer { gateway.stop() }
            let orders = try await RawAgent.caller(gateway)
            defer { orders.close() }
            #expect(try await call(orders)?.result.status == .unavailable)
            #expect(try await call(orders)?.result.status == .unavailable)

            // The operator repairs the trail: the link now leads to a regular file.
            try FileManager.default.createSymbolicLink(atPath: folder.path + "/repaired", withDestinationPath: folder.path + "/records.jsonl")
            #expect(rename(folder.path + "/repaired", link) == 0)
            let id = CallbackID.random()
            let outcome = try #require(try await call(orders, id))
            #expect(outcome.result.status == .noRoute, "forwarded to the broker: \(outcome.text)")
            #expect(folder.lines("records.jsonl").count == 1)
            #expect(folder.lines("records.jsonl").first?.contains(id.description) == true)
            #expect(try await call(orders)?.result.status == .noRoute)
            #expect(count("audit_failed", in: gateway.child) == 1, "\(gateway.child.stderrLines)")
            #expect(count("audit_recovered", in: gateway.child) == 1)
            #expect(gateway.child.stderrLines.contains { $0.contains("event=audit_recovered") && $0.contains("refused_calls=2") })
        }

        @Test("with the audit trail on a named pipe whose reader went away (EPIPE, SIGPIPE; reopening finds no reader) the gateway survives, refuses calls UNAVAILABLE and still serves")
        func auditReaderGone() async throws {
            let folder = try TemporaryFolder()
            let pipe = folder.path + "/audit.pipe"
            guard mkfifo(pipe, 0o600) == 0 else { throw TestFailure("mkfifo \(pipe): \(String(cString: strerror(errno)))") }
            let reader = open(pipe, O_RDONLY | O_NONBLOCK)
            guard reader >= 0 else { throw TestFailure("cannot open \(pipe) for reading") }
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, policy: try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule())),
                                                   auditLog: pipe, captureStandardError: true)
            defer { gateway.stop() }
            let orders = try await RawAgent.caller(gateway)
            defer { orders.close() }
            close(reader)
            var refused: (result: ResultHeader, text: String)?
            try await waitUntil("a call is refused for its audit record") {
                refused = try await call(orders)
                return refused?.result.status == .unavailable
            }
            #expect(refused?.text.contains("audit trail") == true)
            #expect(try await call(orders)?.result.status == .unavailable)
            #expect(gateway.child.isRunning)
            #expect(gateway.child.stderrLines.contains { $0.contains("event=audit_failed") && $0.contains("Broken pipe") })
            try await orders.send(.status)
            #expect(try await orders.next()?.header == .statusReply)
        }

        @Test("a missing audit directory stops the gateway with the configuration exit status, naming the path and the reason")
        func missingAuditDirectory() async throws {
            let folder = try TemporaryFolder()
            let path = folder.path + "/missing/audit.jsonl"
            let refused = try await runToExit("parley-gateway", ["--endpoint", "tcp://127.0.0.1:*", "--broker", "tcp://127.0.0.1:1",
                                                                 "--policy", try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule())),
                                                                 "--audit-log", path])
            #expect(refused.status == 78)
            #expect(refused.errors.contains("cannot open the audit log \(path): No such file or directory"), "\(refused.errors)")
        }

        @Test("SIGHUPs during start-up, from the first thing main does until the ready line, do not end the gateway")
        func hangUpAtStartUp() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: folder) { pid in
                // Dynamic loading comes before main and cannot be protected: wait until main has run its first
                // statement (SIGPIPE ignored: bit 12), then hang up a few times at once, while the gateway is still starting.
                let deadline = ContinuousClock.now + .seconds(20)
                while ignoredSignals(pid) & 0x1000 == 0 {
                    guard ContinuousClock.now < deadline else { throw TestFailure("the gateway never ignored SIGPIPE") }
                    try await Task.sleep(for: .milliseconds(1))
                }
                for _ in 0..<5 {
                    kill(pid, SIGHUP)
                    try await Task.sleep(for: .milliseconds(1))
                }
            }
            defer { gateway.stop() }
            let orders = try await RawAgent.caller(gateway)
            defer { orders.close() }
            #expect(try await call(orders)?.result.status == .noRoute)
        }

        @Test("a broker that stops gracefully is logged as broker_lost, and its drain-time UNAVAILABLE reaches the caller")
        func brokerStopsGracefully() async throws {
            let folder = try TemporaryFolder()
            let id = CallbackID.random()
            let (broker, gateway, store, orders) = try await callInFlight(folder, id, brokerArguments: ["--shutdown-grace-ms", "200"])
            defer { orders.close(); gateway.stop(); broker.stop() }
            broker.stop()
            let outcome = try #require(try await orders.nextResult())
            #expect(outcome.result.callbackID == id)
            #expect(outcome.result.status == .unavailable)
            try await waitUntil("the gateway logs the broker's departure") { count("broker_lost", in: gateway.child) == 1 }
            #expect(gateway.child.stderrLines.contains { $0.contains("event=broker_lost") && $0.contains("the broker said BYE") })
            await store.close()
        }

        @Test("a broker killed while a call is in flight: the gateway ends the call UNAVAILABLE once the broker is silent, not at its deadline")
        func brokerKilled() async throws {
            let folder = try TemporaryFolder()
            let id = CallbackID.random()
            let (broker, gateway, store, orders) = try await callInFlight(folder, id)
            defer { orders.close(); gateway.stop(); broker.stop() }
            await broker.child.stop(signal: SIGKILL)
            let outcome = try #require(try await orders.nextResult())
            #expect(outcome.result.callbackID == id)
            #expect(outcome.result.status == .unavailable)
            #expect(outcome.text.contains("lost the broker"))
            #expect(outcome.result.attempts == 1, "it may have run: final, not to be retried")
            try await waitUntil("the gateway logs the broker's departure") {
                gateway.child.stderrLines.contains { $0.contains("event=broker_lost") && $0.contains("ended_unavailable=1") }
            }
            await store.close()
        }

        @Test("SIGTERM to the gateway: a call whose handler outlasts the drain grace ends UNAVAILABLE at the end of the grace")
        func gatewayDrainGrace() async throws {
            let folder = try TemporaryFolder()
            let id = CallbackID.random()
            let (broker, gateway, store, orders) = try await callInFlight(folder, id, gatewayArguments: ["--shutdown-grace-ms", "300"])
            defer { orders.close(); gateway.stop(); broker.stop() }
            gateway.stop()
            let outcome = try #require(try await orders.nextResult())
            #expect(outcome.result.callbackID == id)
            #expect(outcome.result.status == .unavailable)
            #expect(outcome.text.contains("shut down before the outcome"))
            #expect(outcome.result.attempts == 1, "it may have run: final, not to be retried")
            await store.close()
        }

        @Test("SIGTERM to the gateway: an SDK caller whose call outlasts the grace gets UNAVAILABLE at once, not at its deadline")
        func gatewayDrainReachesSDKCaller() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: folder, arguments: ["--shutdown-grace-ms", "300"])
            defer { gateway.stop() }
            let store = try await connectedAgent("store", layer: "infrastructure", capabilities: ["persistence"], broker: broker) { _ in
                try folder.write("started", "")
                try await Task.sleep(for: .seconds(20))
                return .answer(bytes: Array("\"late\"".utf8))
            }
            let orders = try await connectedAgent("orders", layer: "domain", broker: broker, gateway: gateway.endpoint)
            let call = Task {
                try await orders.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence", payload: "x", timeout: .seconds(60)))
            }
            try await waitUntil("the handler runs") { FileManager.default.fileExists(atPath: folder.path + "/started") }
            let clock = ContinuousClock()
            let stopped = clock.now
            gateway.stop()
            let outcome = try await call.value
            #expect(outcome.status == .unavailable && outcome.attempts == 1, "\(outcome.status) attempts \(outcome.attempts): \(outcome.text)")
            #expect(clock.now - stopped < .seconds(30), "reported at the end of the grace, not at the 60 s deadline")
            await orders.close(); await store.close()
        }

        @Test("a gateway endpoint libzmq cannot connect to ends the cross-layer call UNAVAILABLE at once, and close returns")
        func unusableGatewayEndpoint() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let orders = try await connectedAgent("orders", layer: "domain", broker: broker, gateway: "tcp://no-port-here")
            let clock = ContinuousClock()
            let started = clock.now
            let outcome = try await orders.executeOutcome(
                LayerCallback(toLayer: "infrastructure", need: "persistence", payload: "x", timeout: .seconds(60), retries: 0))
            #expect(outcome.status == .unavailable && outcome.attempts == 0, "\(outcome.status) attempts \(outcome.attempts): \(outcome.text)")
            #expect(clock.now - started < .seconds(30), "ended when the link failed, not at the 60 s deadline")
            await orders.close()
        }
    }
}

extension RawAgent {
    /// A domain caller registered at `gateway` by hand, once the gateway is registered with the broker.
    static func caller(_ gateway: GatewayProcess) async throws -> RawAgent {
        let agent = try RawAgent(endpoint: gateway.endpoint)
        try await waitUntil("the gateway is registered with the broker") {
            try await agent.send(.status)
            guard let reply = try await agent.next(timeout: .seconds(5)) else { return false }
            return String(decoding: reply.body, as: UTF8.self).contains(#""broker":"connected""#)
        }
        let welcome = try await agent.register(id: "orders", layer: "domain")
        guard case .welcome = welcome else { throw TestFailure("no WELCOME from the gateway: \(String(describing: welcome))") }
        return agent
    }

    /// The next RESULT with its body as text (nil when none came within 20 s, well before a call's 60 s deadline).
    /// Heartbeats meanwhile, so that the gateway keeps the caller registered.
    func nextResult() async throws -> (result: ResultHeader, text: String)? {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            try await send(.heartbeat)
            guard let reply = try await next(timeout: .milliseconds(100)) else { continue }
            guard case .result(let result) = reply.header else { throw TestFailure("expected RESULT, got \(reply.header)") }
            return (result, String(decoding: reply.body, as: UTF8.self))
        }
        return nil
    }
}

/// The signals process `pid` ignores, as the bit mask of /proc/PID/status (bit n - 1 for signal n); 0 if unreadable.
private func ignoredSignals(_ pid: Int32) -> UInt64 {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigIgn:") }) else { return 0 }
    return UInt64(line.dropFirst("SigIgn:".count).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
}

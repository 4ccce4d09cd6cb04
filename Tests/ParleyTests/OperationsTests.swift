import Foundation
import Subprocess
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Operations: config files, metrics, logs, health, shutdown")
    struct OperationsTests {
        /// The repository's deploy/ folder, holding the example configs.
        static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy").path

        @Test("broker and gateway start from the deploy/ configs; /metrics counters move with traffic; JSON logs carry lifecycle events")
        func metricsMoveWithTraffic() async throws {
            let folder = try TemporaryFolder()
            let (brokerMetrics, gatewayMetrics) = (try freePort(), try freePort())
            // The broker: its config file with the ports overridden in the environment (flags from BrokerProcess win for the endpoints).
            let broker = try await BrokerProcess(["--config", Self.deploy + "/broker.yaml"],
                                                 environment: ["PARLEY_BROKER_METRICS_PORT": "\(brokerMetrics)", "PARLEY_BROKER_SAMPLE_MS": "100",
                                                               "PARLEY_BROKER_LOG_FORMAT": "json"],
                                                 captureStandardError: true)
            defer { broker.stop() }
            #expect(broker.child.stdoutLines.contains("parley-broker metrics on http://127.0.0.1:\(brokerMetrics)/metrics"))
            // The gateway: its config file (policy.yaml beside it) with ports and audit log overridden by flags.
            let gateway = try await TestProcess("parley-gateway", [
                "--config", Self.deploy + "/gateway.yaml", "--endpoint", "tcp://127.0.0.1:*", "--broker", broker.endpoint,
                "--metrics-port", "\(gatewayMetrics)", "--sample-ms", "100", "--heartbeat-ms", "200",
                "--audit-log", folder.path + "/audit.jsonl",
            ], readyPrefix: "parley-gateway ready on ")
            defer { gateway.terminate() }
            let gatewayEndpoint = String(gateway.readyLine.dropFirst("parley-gateway ready on ".count))

            let brokerURL = "http://127.0.0.1:\(brokerMetrics)"
            let gatewayURL = "http://127.0.0.1:\(gatewayMetrics)"
            let before = try await scrape(brokerURL + "/metrics")
            #expect(before.status == 200)
            #expect(before.contentType?.hasPrefix("text/plain; version=0.0.4") == true)
            #expect(before.value(#"parley_broker_requests_total{outcome="OK"}"#) == 0)
            #expect(before.value("process_resident_memory_bytes") ?? 0 > 1_000_000)
            #expect(before.value("process_open_fds") ?? 0 > 3)
            #expect(before.value("parley_uptime_seconds") != nil)

            let store = try await connectedAgent("store", layer: "infrastructure", capabilities: ["persistence", "echo"], broker: broker,
                                                 handler: EchoRecorder().handler())
            let orders = try await connectedAgent("orders", layer: "domain", capabilities: ["echo"], broker: broker, gateway: gatewayEndpoint,
                                                  handler: EchoRecorder().handler())
            let answer: [String: String] = try await orders.domainToInfrastructure(context: ["key": "order-7"], need: "persistence")
            #expect(answer == ["key": "order-7"])
            let denied = try await orders.executeOutcome(LayerCallback(toLayer: "presentation", need: "render", payload: ["x": 1], retries: 0))
            #expect(denied.status == .unauthorized)
            let same: [String: Int] = try await orders.requestHelp(to: .agent("orders"), problem: ["n": 1])
            #expect(same == ["n": 1])
            _ = try await orders.publish(BuiltInEvent.taskStart, ["level": 1])

            try await waitUntil("the broker's counters show the traffic") {
                let now = try await scrape(brokerURL + "/metrics")
                return now.value(#"parley_broker_requests_total{outcome="OK"}"#) == 2
                    && now.value("parley_broker_requests_accepted_total") == 2
                    && now.value("parley_broker_events_published_total") == 1
                    && now.value(#"parley_broker_agents{state="alive"}"#) == 2
                    && now.value("parley_broker_gateways") == 1
                    && now.value("parley_broker_pending_requests") == 0
            }
            try await waitUntil("the gateway's counters show its decisions, outcomes and latencies") {
                let now = try await scrape(gatewayURL + "/metrics")
                return now.value(#"parley_gateway_decisions_total{rule="domain-uses-infrastructure",verdict="allow"}"#) == 1
                    && now.value(#"parley_gateway_decisions_total{rule="default-deny",verdict="deny"}"#) == 1
                    && now.value(#"parley_gateway_outcomes_total{outcome="OK"}"#) == 1
                    && now.value(#"parley_gateway_outcomes_total{outcome="UNAUTHORIZED"}"#) == 1
                    && now.value("parley_gateway_forward_duration_seconds_count") == 1
                    && now.value("parley_gateway_broker_connected") == 1
                    && now.value("parley_gateway_callers") == 1
            }
            for url in [brokerURL, gatewayURL] {
                // Every metric has its HELP line, right before its TYPE line.
                let lines = try await scrape(url + "/metrics").body.split(separator: "\n")
                for (index, line) in lines.enumerated() where line.hasPrefix("# TYPE ") {
                    let name = line.dropFirst(7).prefix { $0 != " " }
                    #expect(index > 0 && lines[index - 1].hasPrefix("# HELP \(name) "), "\(url): no HELP for \(name)")
                }
                let health = try await scrape(url + "/health")
                #expect(health.status == 200, "\(url): \(health.body)")
                #expect(health.body.contains(#""status":"ok""#))
                #expect(try await scrape(url + "/nothing").status == 404)
            }

            await orders.close()
            await store.close()
            try await waitUntil("the broker logs the agents leaving") {
                broker.child.stderrLines.filter { $0.contains(#""event":"agent_left""#) }.count == 2
            }
            #expect(await gateway.stop() == 0)
            #expect(await broker.child.stop() == 0)
            let events = broker.child.stderrLines.compactMap { line -> String? in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                    Issue.record("not a JSON line: \(line)")
                    return nil
                }
                return object["event"] as? String
            }
            for event in ["start", "bind", "agent_joined", "agent_left", "shutdown", "stopped"] {
                #expect(events.contains(event), "\(event) in \(events)")
            }
            let objects = broker.child.stderrLines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let start = try #require(objects.first { $0["event"] as? String == "start" })
            #expect(start["pid"] is Int, "typed fields: \(start)")
            let joined = try #require(objects.first { $0["event"] as? String == "agent_joined" && $0["agent"] as? String == "store" })
            #expect(joined["capabilities"] as? [String] == ["persistence", "echo"], "\(joined)")
        }

        @Test("with 20 idle connections held open to /metrics (a request head begun, never finished), /health is still answered within 100 ms")
        func healthBesideIdleConnections() async throws {
            let port = try freePort()
            let broker = try await BrokerProcess(["--metrics-port", "\(port)"])
            defer { broker.stop() }
            let idle = try (0..<20).map { _ in try openConnection(port: port, sending: "GET /metrics HTTP/1.1\r\nHost: x\r\n") }
            defer { idle.forEach { close($0) } }
            try await Task.sleep(for: .milliseconds(200))  // the server has taken all 20
            let clock = ContinuousClock()
            var fastest = Duration.seconds(60)
            for _ in 0..<5 {  // the fastest of five: one slow turn of a busy machine is not the server's doing
                let started = clock.now
                let health = try await scrape("http://127.0.0.1:\(port)/health")
                fastest = min(fastest, clock.now - started)
                #expect(health.status == 200, "\(health.body)")
            }
            #expect(fastest < .milliseconds(100), "/health took \(fastest) beside 20 idle connections")
        }

        @Test("a bad config file stops start-up with one line naming the file and line (exit 78); --print-config names sources")
        func badConfigFile() async throws {
            let folder = try TemporaryFolder()
            let brokerConfig = try folder.write("broker.yaml", "# a broker\nendpoint: tcp://127.0.0.1:7410\nhearbeat-ms: 200\n")
            let refused = try await runToExit("parley-broker", ["--config", brokerConfig])
            #expect(refused.status == 78)
            #expect(refused.errors == "parley-broker: \(brokerConfig):3: unknown setting 'hearbeat-ms' (did you mean 'heartbeat-ms'?)\n")

            let gatewayConfig = try folder.write("gateway.yaml", "endpoint: tcp://127.0.0.1:7420\nshutdown-grace-ms: soon\n")
            let gatewayRefused = try await runToExit("parley-gateway", ["--config", gatewayConfig])
            #expect(gatewayRefused.status == 78)
            #expect(gatewayRefused.errors.split(separator: "\n").count == 1)
            #expect(gatewayRefused.errors.hasPrefix("parley-gateway: \(gatewayConfig):2: shutdown-grace-ms must be a whole number"))

            let printed = try await runToExit("parley-gateway", ["--config", Self.deploy + "/gateway.yaml", "--print-config", "--heartbeat-ms", "250"])
            #expect(printed.status == 0)
            let lines = printed.output.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("heartbeat-ms: 250 ") && $0.hasSuffix("# flag --heartbeat-ms") })
            #expect(lines.contains { $0.hasPrefix("policy: \"\(Self.deploy)/policy.yaml\"") && $0.contains("# file \(Self.deploy)/gateway.yaml:") })
            #expect(lines.contains { $0.hasPrefix("secret-key: ~ ") && $0.contains("# file \(Self.deploy)/gateway.yaml:") })
        }

        @Test("parley health --gateway passes while the gateway is linked to the broker and fails when either is down")
        func gatewayHealth() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let policy = try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule()))
            let gateway = try await GatewayProcess(broker: broker, policy: policy, auditLog: folder.path + "/audit.jsonl")
            try await waitUntil("the gateway reports healthy") {
                try await runToExit("parley", ["health", "--gateway", gateway.endpoint]).status == 0
            }
            let up = try await runToExit("parley", ["health", "--gateway", gateway.endpoint])
            #expect(up.output.hasPrefix("healthy: gateway at \(gateway.endpoint), broker connected"))
            broker.stop()
            try await waitUntil("the gateway reports the broker gone") {
                let result = try await runToExit("parley", ["health", "--gateway", gateway.endpoint, "--timeout-ms", "500"])
                return result.status == 1 && result.output.contains("not registered with the broker")
            }
            await gateway.child.stop()
            let down = try await runToExit("parley", ["health", "--gateway", gateway.endpoint, "--timeout-ms", "300"])
            #expect(down.status == 1)
            #expect(down.output.hasPrefix("unhealthy: gateway at \(gateway.endpoint): no answer"))
        }

        @Test("gateway SIGTERM: a forwarded call still gets its outcome, a call outlasting the grace ends UNAVAILABLE, new calls are refused; exit 0")
        func gatewayDrains() async throws {
            for (grace, expected) in [("5000", Status.ok), ("200", Status.unavailable)] {
                let folder = try TemporaryFolder()
                let broker = try await BrokerProcess()
                defer { broker.stop() }
                let policy = try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule()))
                let gateway = try await GatewayProcess(broker: broker, policy: policy, auditLog: folder.path + "/audit.jsonl",
                                                       arguments: ["--shutdown-grace-ms", grace])
                let slow = try await connectedAgent("store", layer: "infrastructure", capabilities: ["persistence"], broker: broker,
                                                    handler: EchoRecorder().handler(delay: .milliseconds(1_500)))
                let caller = try await connectedAgent("orders", layer: "domain", broker: broker, gateway: gateway.endpoint)
                _ = try await caller.executeOutcome(LayerCallback(toLayer: "domain", need: "warm-up", payload: 0, retries: 0))  // opens the link
                let call = Task {
                    try await caller.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence", payload: ["k": 1],
                                                                  timeout: .seconds(10), retries: 0))
                }
                try await Task.sleep(for: .milliseconds(400))  // the call is at the slow agent
                kill(gateway.child.processIdentifier, SIGTERM)
                if expected == .ok {
                    try await waitUntil("the gateway says it is shutting down") {
                        try await runToExit("parley", ["health", "--gateway", gateway.endpoint, "--timeout-ms", "500"]).output
                            .contains("shutting down")
                    }
                    let late = try await caller.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence", payload: ["k": 2],
                                                                             timeout: .seconds(5), retries: 0))
                    #expect(late.status == .unavailable, "a call after SIGTERM: \(late.status) \(late.text)")
                }
                let exit = Task { await gateway.child.stop(signal: 0) }  // signal 0: already sent, only wait
                let outcome = try await call.value
                #expect(outcome.status == expected, "grace \(grace): \(outcome.status) \(outcome.text)")
                #expect(await exit.value == 0)
                await caller.close()
                await slow.close()
            }
        }

        @Test("the systemd units pass systemd-analyze verify")
        func systemdUnits() async throws {
            let script = Self.deploy + "/verify-units.sh"
            let (status, output, _) = try await runTool(.path("/bin/bash"), [script, TestProcess.buildDirectory.path], timeout: .seconds(300),
                                                        standardError: true)
            #expect(status == 0, "\(output)")
            #expect(output.contains("parley-broker.service: OK") && output.contains("parley-gateway.service: OK"), "\(output)")
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released; the process under test binds it right after).
func freePort() throws -> UInt16 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestFailure("cannot bind a free port") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
    }
    return UInt16(bigEndian: address.sin_port)
}

/// A TCP connection to 127.0.0.1:`port` that has sent `text` and is left open.
func openConnection(port: UInt16, sending text: String) throws -> Int32 {
    let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = port.bigEndian
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
        close(descriptor)
        throw TestFailure("cannot connect to port \(port)")
    }
    _ = Array(text.utf8).withUnsafeBytes { send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    return descriptor
}

/// One HTTP response, fetched with URLSession (a real HTTP client).
struct Scrape {
    var status: Int
    var contentType: String?
    var body: String

    /// The value of the Prometheus sample whose name and labels are exactly `series`.
    func value(_ series: String) -> Double? {
        body.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}

func scrape(_ url: String) async throws -> Scrape {
    var request = URLRequest(url: URL(string: url)!)
    request.timeoutInterval = 5
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as! HTTPURLResponse
    return Scrape(status: http.statusCode, contentType: http.value(forHTTPHeaderField: "Content-Type"),
                  body: String(decoding: data, as: UTF8.self))
}

import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("parley command line")
    struct CommandLineTests {
        @Test("parley request prints the outcome and reply; parley status lists agents and outcome counts")
        func requestAndStatus() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let server = try await TestProcess("parley", ["serve", "--broker", broker.endpoint, "--id", "echo", "--cap", "echo"],
                                               readyPrefix: "agent echo serving")
            defer { server.terminate() }
            let ok = try await runToExit("parley", ["request", "--broker", broker.endpoint, "--to", "cap:echo", "--json", #"{"q":1}"#])
            #expect(ok.status == 0)
            #expect(ok.output.contains("OK (attempts: 1)"))
            #expect(ok.output.contains(#"{"q":1}"#))
            let missing = try await runToExit("parley", ["request", "--broker", broker.endpoint, "--to", "agent:nobody"])
            #expect(missing.status != 0)
            #expect(missing.output.contains("NO_ROUTE"))
            let status = try await runToExit("parley", ["status", "--broker", broker.endpoint])
            #expect(status.status == 0)
            #expect(status.output.contains("echo  layer=domain  state=alive"))
            #expect(status.output.contains("NO_ROUTE=1 OK=1"))
        }

        @Test("parley health passes when the broker is up and fails when it is down")
        func health() async throws {
            let broker = try await BrokerProcess()
            let up = try await runToExit("parley", ["health", "--broker", broker.endpoint])
            #expect(up.status == 0)
            #expect(up.output.hasPrefix("healthy"))
            await broker.child.stop()  // waits until it is gone
            let down = try await runToExit("parley", ["health", "--broker", broker.endpoint, "--timeout-ms", "500"])
            #expect(down.status == 1)
            #expect(down.output.hasPrefix("unhealthy"))
        }

        @Test("parley keygen refuses to write keys into a git work tree unless told to, and writes them elsewhere")
        func keygenOutsideRepositories() async throws {
            let folder = try TemporaryFolder()
            try FileManager.default.createDirectory(atPath: folder.path + "/repo/.git/objects", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: folder.path + "/repo/deploy", withIntermediateDirectories: true)
            let inside = folder.path + "/repo/deploy/broker"
            let refused = try await runToExit("parley", ["keygen", "--out", inside])
            #expect(refused.status == 1)
            #expect(refused.errors.contains("inside the git work tree \(folder.path)/repo"), "\(refused.errors)")
            #expect(!FileManager.default.fileExists(atPath: inside + ".key"))

            let allowed = try await runToExit("parley", ["keygen", "--out", inside, "--allow-in-repository"])
            #expect(allowed.status == 0, "\(allowed.errors)")
            #expect(FileManager.default.fileExists(atPath: inside + ".key"))

            let outside = try await runToExit("parley", ["keygen", "--out", folder.path + "/broker"])
            #expect(outside.status == 0, "\(outside.errors)")
            #expect(try String(contentsOfFile: folder.path + "/broker.pub", encoding: .utf8).count == 41)
        }

        @Test("PARLEY_BROKER sets the endpoint; --output json prints one JSON object for status and request; a --json that is not JSON is refused")
        func environmentAndJSON() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let server = try await TestProcess("parley", ["serve", "--broker", broker.endpoint, "--id", "echo", "--cap", "echo"],
                                               readyPrefix: "agent echo serving")
            defer { server.terminate() }
            let environment = ["PARLEY_BROKER": broker.endpoint, "PARLEY_EVENTS": broker.eventsEndpoint]
            let request = try await runToExit("parley", ["request", "--to", "cap:echo", "--json", #"{"q":1}"#, "--output", "json"],
                                              environment: environment)
            #expect(request.status == 0, "\(request.output) \(request.errors)")
            let outcome = try JSONSerialization.jsonObject(with: Data(request.output.utf8)) as? [String: Any]
            #expect(outcome?["status"] as? String == "OK" && outcome?["attempts"] as? Int == 1 && outcome?["reply"] as? String == #"{"q":1}"#)
            let status = try await runToExit("parley", ["status", "--output", "json"], environment: environment)
            #expect(status.status == 0, "\(status.output) \(status.errors)")
            let snapshot = try JSONDecoder().decode(BrokerSnapshot.self, from: Data(status.output.utf8))
            #expect(snapshot.agents.contains { $0.id == "echo" } && snapshot.outcomes["OK"] == 1)
            for command in [["request", "--to", "cap:echo"], ["publish", "--topic", "callback.cli.on_test"]] {
                let refused = try await runToExit("parley", command + ["--json", "notjson"], environment: environment)
                #expect(refused.status == 64, "\(command[0]): \(refused.status)")
                #expect(refused.errors.contains("--json is not valid JSON: notjson"), "\(refused.errors)")
            }
            let published = try await runToExit("parley", ["publish", "--topic", "callback.cli.on_test", "--json", "[1, 2]"], environment: environment)
            #expect(published.status == 0 && published.output.contains("published callback.cli.on_test #1"), "\(published.output) \(published.errors)")
        }

        @Test("parley tail with * in the agent: live, every agent's matching events and nothing else; with --from, replayed from the agents registered now")
        func tailAcrossAgents() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let endpoints = ["--broker", broker.endpoint, "--events", broker.eventsEndpoint]
            let live = Task { try await runToExit("parley", ["tail", "callback.*.on_error", "--count", "2"] + endpoints) }
            try await Task.sleep(for: .seconds(1))  // the tail's subscription reaches the broker
            let game = try await connectedAgent("game", broker: broker)
            let hud = try await connectedAgent("hud", broker: broker)
            _ = try await game.publish("on_error", ["n": 1])
            _ = try await hud.publish("on_start", ["n": 2])
            _ = try await hud.publish("on_error", ["n": 3])
            let followed = try await live.value
            #expect(followed.status == 0, "\(followed.output) \(followed.errors)")
            #expect(followed.output.contains(#"callback.game.on_error #1"#) && followed.output.contains(#"callback.hud.on_error #1"#)
                    && !followed.output.contains("on_start"), "\(followed.output)")

            let replayed = try await runToExit("parley", ["tail", "callback.*.on_*", "--from", "1", "--count", "3"] + endpoints)
            #expect(replayed.status == 0, "\(replayed.output) \(replayed.errors)")
            #expect(replayed.output.contains("from 2 agents"), "\(replayed.output)")
            for line in ["callback.game.on_error #1", "callback.hud.on_start #1", "callback.hud.on_error #1"] {
                #expect(replayed.output.contains(line + " ") && replayed.output.contains("(replayed)"), "\(line): \(replayed.output)")
            }
            let invalid = try await runToExit("parley", ["tail", "callback.a.b.c"] + endpoints)
            #expect(invalid.status != 0 && invalid.errors.contains("PATTERN must be"), "\(invalid.errors)")
            await game.close(); await hud.close()
        }

        @Test("without CURVE, parley admin from this host evicts an agent (told BYE, gone from STATUS) and purges a topic, which stays purged after a restart; unknown names exit 1")
        func adminEvictAndPurge() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess(["--data-dir", folder.path])
            let endpoints = ["--broker", broker.endpoint, "--events", broker.eventsEndpoint]
            let worker = try RawAgent(endpoint: broker.endpoint)
            defer { worker.close() }
            try await worker.register(id: "worker", layer: "domain")
            let evicted = try await runToExit("parley", ["admin", "evict", "worker"] + endpoints)
            #expect(evicted.status == 0 && evicted.output.contains("agent 'worker' evicted (it was alive"), "\(evicted.output) \(evicted.errors)")
            #expect(try await worker.next()?.header == .bye, "the evicted agent is told it is not registered any more")
            #expect(try await BrokerStatus.fetch(endpoint: broker.endpoint).agents.isEmpty)
            let unknown = try await runToExit("parley", ["admin", "evict", "worker"] + endpoints)
            #expect(unknown.status == 1 && unknown.output.contains("refused (NO_ROUTE): no agent 'worker' is registered"), "\(unknown.output)")

            let game = try await connectedAgent("game", broker: broker)
            for index in 1...3 { _ = try await game.publish("on_error", ["secret": "purge-me-\(index)"]) }
            await game.close()
            let journal = folder.path + "/events.journal"
            #expect(try String(decoding: Data(contentsOf: URL(fileURLWithPath: journal)), as: UTF8.self).contains("purge-me-"))
            let purged = try await runToExit("parley", ["admin", "purge", "callback.game.on_error"] + endpoints)
            #expect(purged.status == 0 && purged.output.contains("purged 3 event(s)"), "\(purged.output) \(purged.errors)")
            try await waitUntil("the purged payloads leave the journal file (a purge compacts it)") {
                try !String(decoding: Data(contentsOf: URL(fileURLWithPath: journal)), as: UTF8.self).contains("purge-me-")
            }
            await broker.child.stop()

            let restarted = try await BrokerProcess(["--data-dir", folder.path])
            defer { restarted.stop() }
            let again = try await connectedAgent("game", broker: restarted)
            #expect(try await again.publish("on_error", ["n": 4]).sequence == 4, "the sequence goes on after a purge")
            await again.close()
            let tail = try await runToExit("parley", ["tail", "callback.game.on_error", "--from", "1", "--count", "1",
                                                      "--broker", restarted.endpoint, "--events", restarted.eventsEndpoint])
            #expect(tail.output.contains("GAP callback.game.on_error #1…#3") && tail.output.contains("callback.game.on_error #4"),
                    "purged events came back after the restart: \(tail.output)")
            let invalid = try await runToExit("parley", ["admin", "purge", "callback.game", "--broker", restarted.endpoint])
            #expect(invalid.status == 1 && invalid.output.contains("refused (BAD_REQUEST): invalid topic"), "\(invalid.output)")
        }

        @Test("parley request --to layer:… goes through the gateway named by PARLEY_GATEWAY: allowed by the policy it is answered, denied it ends UNAUTHORIZED, both audited")
        func crossLayerRequest() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: folder)
            defer { gateway.stop() }
            let store = try await TestProcess("parley", ["serve", "--broker", broker.endpoint, "--id", "store", "--layer", "infrastructure",
                                                         "--cap", "persistence"], readyPrefix: "agent store serving")
            defer { store.terminate() }
            let environment = ["PARLEY_BROKER": broker.endpoint, "PARLEY_GATEWAY": gateway.endpoint]
            let allowed = try await runToExit("parley", ["request", "--to", "layer:infrastructure/persistence", "--kind", "call",
                                                         "--json", #"{"key":"order-7"}"#], environment: environment)
            #expect(allowed.status == 0 && allowed.output.contains("OK (attempts: 1)") && allowed.output.contains(#"{"key":"order-7"}"#),
                    "\(allowed.output) \(allowed.errors)")
            let denied = try await runToExit("parley", ["request", "--to", "layer:presentation", "--kind", "call"], environment: environment)
            #expect(denied.status == 1 && denied.output.contains("UNAUTHORIZED"), "\(denied.output) \(denied.errors)")
            let audit = try String(contentsOfFile: folder.path + "/audit.jsonl", encoding: .utf8)
            #expect(audit.split(separator: "\n").count == 2, "both decisions are audited: \(audit)")
        }

        @Test("with nothing listening at the endpoint, status and request say so at once instead of waiting")
        func statusWithoutBroker() async throws {
            let clock = ContinuousClock()
            for command in [["status"], ["request", "--to", "cap:echo"]] {
                let started = clock.now
                let result = try await runToExit("parley", command + ["--broker", "tcp://127.0.0.1:1"])
                #expect(result.status == 1)
                #expect(result.output.contains("nothing listens at tcp://127.0.0.1:1 (connection refused)"), "\(result.output)")
                #expect(clock.now - started < .seconds(5), "\(command[0]) waited for a connect timeout")
            }
        }
    }
}


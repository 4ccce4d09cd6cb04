#if canImport(Glibc)
import Glibc
#endif
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Request and reply")
    struct RequestReplyTests {
        struct Question: Codable, Equatable { var text: String; var n: Int }

        @Test("a request by agent id is answered by that agent, payload intact")
        func byAgentID() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let echo = EchoRecorder()
            let helper = try await connectedAgent("helper", broker: broker, handler: echo.handler())
            let asker = try await connectedAgent("asker", broker: broker)
            let answer: Question = try await asker.requestHelp(to: .agent("helper"), problem: Question(text: "why?", n: 42))
            #expect(answer == Question(text: "why?", n: 42))
            #expect(echo.attempts == [1])
            let clarified: Question = try await asker.requestClarification(to: .agent("helper"), question: Question(text: "what?", n: 1))
            #expect(clarified.text == "what?")
            await asker.close()
            await helper.close()
        }

        @Test("with handlers not started inline, a handler blocking its thread past the liveness leaves the agent live")
        func blockingHandlerOffTheReactor() async throws {
            let broker = try await BrokerProcess()  // heartbeats every 200 ms, away after 600 ms of silence
            defer { broker.stop() }
            let worker = try await connectedAgent("grinder", broker: broker, handler: { request in
                usleep(1_500_000)  // synchronous work: no suspension point
                return .answer(bytes: request.body)
            }, configure: { $0.startsHandlersInline = false })
            let asker = try await connectedAgent("asker", broker: broker)
            let call = Task { await asker.send(.help, to: .agent("grinder"), body: Array("ore".utf8), timeout: .seconds(20)) }
            // Sample the broker's view while the handler blocks (1.5 s) and a little after.
            var states: Set<String> = []
            var sawInFlight = false
            for _ in 0..<20 {
                let snapshot = try await BrokerStatus.fetch(endpoint: broker.endpoint)
                if let grinder = snapshot.agents.first(where: { $0.id == "grinder" }) {
                    states.insert(grinder.state)
                    sawInFlight = sawInFlight || grinder.inFlight == 1
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            let outcome = await call.value
            #expect(outcome.status == .ok)
            #expect(outcome.attempts == 1)
            #expect(sawInFlight)
            #expect(states == ["alive"], "states seen: \(states)")
            await asker.close()
            await worker.close()
        }

        @Test("a request to a capability is answered, and 300 are spread over its 3 agents")
        func capabilitySpread() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let recorders = [EchoRecorder(), EchoRecorder(), EchoRecorder()]
            var helpers: [Agent] = []
            for (index, recorder) in recorders.enumerated() {
                helpers.append(try await connectedAgent("math-\(index)", capabilities: ["math"], broker: broker,
                                                        handler: recorder.handler()))
            }
            let asker = try await connectedAgent("asker", broker: broker)
            for index in 0..<300 {
                let outcome = await asker.send(.help, to: .capability("math"), body: Array("\(index)".utf8))
                #expect(outcome.status == .ok)
                #expect(outcome.text == "\(index)")
            }
            let counts = recorders.map(\.calls)
            #expect(counts.reduce(0, +) == 300)
            #expect(counts.allSatisfy { $0 >= 60 }, "spread: \(counts)")
            await asker.close()
            for helper in helpers { await helper.close() }
        }

        @Test("an unknown target gets NO_ROUTE at once; a target in another layer gets UNAUTHORIZED")
        func refusals() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let infra = try await connectedAgent("db", layer: "infrastructure", capabilities: ["storage"], broker: broker,
                                                 handler: EchoRecorder().handler())
            let asker = try await connectedAgent("asker", layer: "domain", broker: broker)
            let clock = ContinuousClock()
            let start = clock.now
            let unknown = await asker.send(.help, to: .agent("nobody"), body: [], timeout: .seconds(20))
            let unknownCap = await asker.send(.help, to: .capability("telepathy"), body: [], timeout: .seconds(20))
            #expect(clock.now - start < .seconds(10), "NO_ROUTE must not wait for the deadline")
            #expect(unknown.status == .noRoute)
            #expect(unknown.text.contains("nobody"))
            #expect(unknownCap.status == .noRoute)
            let direct = await asker.send(.help, to: .agent("db"), body: [])
            #expect(direct.status == .unauthorized)
            #expect(direct.text.contains("cross-layer calls go through the gateway"))
            let byCapability = await asker.send(.help, to: .capability("storage"), body: [])
            #expect(byCapability.status == .unauthorized)
            await asker.close()
            await infra.close()
        }

        @Test("handlers can decline and fail, and a thrown error answers FAILED")
        func declineAndFail() async throws {
            struct Boom: Error, CustomStringConvertible { var description: String { "boom" } }
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let helper = try await connectedAgent("moody", broker: broker) { request in
                switch request.body.first {
                case UInt8(ascii: "d"): return .decline("not my job")
                case UInt8(ascii: "f"): return .fail("tried")
                default: throw Boom()
                }
            }
            let asker = try await connectedAgent("asker", broker: broker)
            let declined = await asker.send(.help, to: .agent("moody"), body: Array("d".utf8))
            #expect(declined.status == .declined && declined.text == "not my job")
            let failed = await asker.send(.help, to: .agent("moody"), body: Array("f".utf8))
            #expect(failed.status == .failed && failed.text == "tried")
            let thrown = await asker.send(.help, to: .agent("moody"), body: Array("x".utf8))
            #expect(thrown.status == .failed && thrown.text.contains("boom"))
            await #expect(throws: ParleyError.self) {
                let _: String = try await asker.requestHelp(to: .agent("moody"), problem: "d")
            }
            await asker.close()
            await helper.close()
        }

        @Test("1,000 requests in flight from 10 agents all come back to their own requester")
        func noCrossTalk() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            var servers: [Agent] = []
            for index in 0..<3 {
                servers.append(try await connectedAgent("echo-\(index)", capabilities: ["echo"], broker: broker,
                                                        handler: EchoRecorder().handler()))
            }
            var askers: [Agent] = []
            for index in 0..<10 { askers.append(try await connectedAgent("asker-\(index)", broker: broker)) }
            let mismatches = await withTaskGroup(of: Int.self) { group in
                for (agentIndex, asker) in askers.enumerated() {
                    for requestIndex in 0..<100 {
                        group.addTask {
                            let body = "\(agentIndex)/\(requestIndex)"
                            let outcome = await asker.send(.help, to: .capability("echo"), body: Array(body.utf8), timeout: .seconds(60))
                            return outcome.status == .ok && outcome.text == body ? 0 : 1
                        }
                    }
                }
                return await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint)
            #expect(status.outcomes["OK"] == 1_000)
            #expect(status.pending == 0)
            for agent in askers + servers { await agent.close() }
        }

        @Test("coordinate gathers all answers, the first, or a quorum")
        func coordinate() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            var helpers: [Agent] = []
            for index in 0..<3 {
                helpers.append(try await connectedAgent("peer-\(index)", broker: broker) { request in
                    try .answer("peer-\(index):\(try request.decode(String.self))")
                })
            }
            let asker = try await connectedAgent("lead", broker: broker)
            let targets = (0..<3).map { Target.agent("peer-\($0)") } + [.agent("ghost")]
            let all: [CoordinationReply<String>] = try await asker.coordinate(with: targets, task: "plan")
            #expect(all.count == 4)
            #expect(Set(all.compactMap(\.answer)) == ["peer-0:plan", "peer-1:plan", "peer-2:plan"])
            #expect(all.first { $0.target == .agent("ghost") }?.outcome.status == .noRoute)
            let first: [CoordinationReply<String>] = try await asker.coordinate(with: targets, task: "go", gather: .first)
            #expect(first.compactMap(\.answer).count == 1)
            let quorum: [CoordinationReply<String>] = try await asker.coordinate(with: targets, task: "vote", gather: .quorum(2))
            #expect(quorum.compactMap(\.answer).count >= 2)
            await #expect(throws: ParleyError.self) {
                let _: [CoordinationReply<String>] = try await asker.coordinate(with: [.agent("ghost")], task: "x", gather: .first)
            }
            await asker.close()
            for helper in helpers { await helper.close() }
        }

        @Test("a duplicate agent id held by a live agent is refused with a clear error")
        func duplicateID() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let first = try await connectedAgent("unique", broker: broker, handler: EchoRecorder().handler())
            await #expect {
                _ = try await connectedAgent("unique", broker: broker)
            } throws: { error in
                guard case ParleyError.registrationRefused(.unauthorized, let reason) = error else { return false }
                return reason.contains("held by another live agent")
            }
            let asker = try await connectedAgent("asker", broker: broker)
            #expect(await asker.send(.help, to: .agent("unique"), body: Array("still here".utf8)).text == "still here")
            await asker.close()
            await first.close()
        }

        @Test("an agent killed without BYE is restarted under its id at once: the broker finds the old connection gone instead of refusing")
        func restartAfterKill() async throws {
            // Heartbeats a minute apart: only the probe of the HELLO can notice the dead holder within the test.
            let broker = try await BrokerProcess(["--heartbeat-ms", "60000"])
            defer { broker.stop() }
            let killed = try await TestProcess("parley", ["serve", "--broker", broker.endpoint, "--id", "phoenix"],
                                               readyPrefix: "agent phoenix serving")
            await killed.stop(signal: SIGKILL)
            let restarted = try await connectedAgent("phoenix", broker: broker) { _ in .answer(bytes: Array("reborn".utf8)) }
            let asker = try await connectedAgent("asker", broker: broker)
            #expect(await asker.send(.help, to: .agent("phoenix"), body: []).text == "reborn")
            await asker.close()
            await restarted.close()
        }

        @Test("a process that closes its agent and exits at once leaves no registration behind: its BYE goes out before the exit")
        func byeBeforeExit() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "60000"])
            defer { broker.stop() }
            for run in 1...5 {
                let published = try await runToExit("parley", ["publish", "--broker", broker.endpoint, "--events", broker.eventsEndpoint,
                                                               "--topic", "callback.brief.on_run"])
                #expect(published.status == 0 && published.output.contains("#\(run)"), "\(published.output) \(published.errors)")
                try await waitUntil("run \(run) unregistered") {
                    try await BrokerStatus.fetch(endpoint: broker.endpoint).agents.allSatisfy { $0.id != "brief" }
                }
            }
        }
    }
}

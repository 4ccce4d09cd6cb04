import Foundation
import Parley
import ParleyWire
import Testing
import ZeroMQ

extension BrokerIntegration {
    /// Hostile load whose cost grew with what the broker holds (issue 12, finding 3): the work per message must not
    /// grow with the number of waiting requests, so a well-behaved agent stays served during the attack.
    @Suite("Hostile scale")
    struct HostileScaleTests {
        @Test("1 MiB requests parked for an away agent stop at the byte budgets, per requester and in all")
        func megabyteRequestsStopAtTheByteBudgets() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            try await makeAwayAgent("away", broker: broker)
            // Five requesters offer 80 MiB each: 64 MiB each would fit their own budget, 256 MiB fit the broker's.
            let body = [UInt8](repeating: 0x5A, count: 1 << 20)
            var accepted = 0
            for index in 0..<5 {
                let requester = try RawAgent(endpoint: broker.endpoint)
                defer { requester.close() }
                #expect(try await requester.register(id: "hoarder-\(index)", layer: "domain")?.code == .welcome)
                try await requester.send(all: (0..<80).map { _ in
                    [HeaderEncoder.encode(.request(Request(callbackID: .random(), kind: .help, timeoutMilliseconds: 10_000,
                                                           target: .agent("away"), contentType: ""))), body]
                })
                var refusals = 0
                while refusals < (index < 4 ? 16 : 80), let message = try await requester.next(timeout: .seconds(60)) {
                    guard case .result(let result) = message.header else { continue }  // HEARTBEATs
                    #expect(result.status == .overloaded)
                    refusals += 1
                }
                accepted += 80 - refusals
            }
            #expect(accepted == 256, "4 × 64 requests fill the broker's 256 MiB; the fifth requester gets none in")
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            #expect(status.pending == 256)
            try broker.checkPeakMemory(under: 512, "256 MiB of parked 1 MiB requests")
            // They time out; the memory they held goes back to the system, not only to the allocator.
            try await waitUntil("the parked requests timed out") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).pending == 0
            }
            try await waitUntil("the broker's resident memory is back under 128 MiB") { try broker.residentBytes() < 128 << 20 }
        }

        @Test("a flood of agent-selector REPLAYs of an agent with 100,000 topics does not stall the broker: over the rate, ERROR OVERLOADED")
        func replayFloodBesideManyTopics() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30", "--max-topics-per-agent", "100000",
                                                  "--retention-count", "1"])
            defer { broker.stop() }
            let topicCount = 100_000
            let publisher = try RawAgent(endpoint: broker.endpoint)
            defer { publisher.close() }
            #expect(try await publisher.register(id: "many", layer: "domain")?.code == .welcome)
            try await publisher.send(all: (0..<topicCount).map { index in
                [HeaderEncoder.encode(.publish(Publish(eventID: .random(), topic: Topic(agent: "many", event: "t\(index)")!, contentType: "")))]
            })
            try await waitUntil("\(topicCount) topics opened") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(10)).topics >= topicCount
            }

            let replays = 3_000
            let reader = try RawAgent(endpoint: broker.endpoint, receiveHighWaterMark: 0)
            defer { reader.close() }
            try await expectServedDuring("the REPLAY flood", broker: broker) {
                try await reader.send(all: (0..<replays).map { _ in
                    [HeaderEncoder.encode(.replay(Replay(selector: TopicSelector("callback.many.")!, from: 1)))]
                })
            }
            // Each REPLAY ends with REPLAY_END (a truncated batch of 10,000 EVENTs) or, over the rate, ERROR OVERLOADED.
            var ends = 0, refused = 0
            while ends + refused < replays, let answer = try await reader.next(timeout: .seconds(30)) {
                switch answer.header {
                case .replayEnd(let end):
                    #expect(end.truncated && end.events == 10_000)
                    ends += 1
                case .error(let notice):
                    #expect(notice.status == .overloaded && notice.command == CommandCode.replay.rawValue)
                    refused += 1
                default:
                    break
                }
            }
            #expect(ends + refused == replays, "every REPLAY was answered")
            #expect(ends >= 1 && refused > replays / 2, "\(ends) answered, \(refused) refused over the rate")
        }

        @Test("connect–HELLO–vanish churn leaves at most max-away-agents away records")
        func churnKeepsBoundedAwayRecords() async throws {
            let broker = try await BrokerProcess(["--max-away-agents", "50"])
            defer { broker.stop() }
            for index in 0..<200 {
                let agent = try RawAgent(endpoint: broker.endpoint)
                #expect(try await agent.register(id: "churn-\(index)", layer: "domain")?.code == .welcome)
                agent.close()
            }
            try await waitUntil("every vanished agent is away or forgotten") {
                let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
                return !status.agents.contains { $0.id.hasPrefix("churn-") && $0.state == "alive" }
            }
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            let remembered = status.agents.filter { $0.id.hasPrefix("churn-") }
            // Which 50 depends on the order the broker noticed them gone (AwayAgentBoundTests checks the order).
            #expect(remembered.count == 50 && remembered.allSatisfy { $0.state == "away" }, "\(remembered.count) away records kept")
        }

        @Test("a HELLO flood next to 50,000 requests parked for an away agent does not stall the broker")
        func helloFloodBesideParkedRequests() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30", "--max-pending-per-agent", "100000"])
            defer { broker.stop() }
            try await makeAwayAgent("away", broker: broker)
            let parked = 50_000
            let parker = try RawAgent(endpoint: broker.endpoint)
            defer { parker.close() }
            #expect(try await parker.register(id: "parker", layer: "domain")?.code == .welcome)
            try await parker.send(all: (0..<parked).map { _ in
                [HeaderEncoder.encode(.request(Request(callbackID: .random(), kind: .help, timeoutMilliseconds: 120_000,
                                                       target: .agent("away"), contentType: "")))]
            })
            try await waitUntil("\(parked) requests wait for the away agent") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).pending == parked
            }

            let hellos = 3_000
            let flooder = try RawAgent(endpoint: broker.endpoint)
            defer { flooder.close() }
            try await expectServedDuring("the HELLO flood", broker: broker) {
                try await flooder.send(all: (0..<hellos).map { index in
                    [HeaderEncoder.encode(.hello(Hello(instance: UInt64(index + 1), agentID: "flood-\(index)", layer: "domain", capabilities: [])))]
                })
            }
            let welcomes = try await flooder.next(count: hellos, timeout: .seconds(60)).filter { $0.header.code == .welcome }.count
            #expect(welcomes == hellos, "every HELLO of the flood was answered")
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            #expect(status.pending == parked, "the parked requests still wait for their agent")
        }

        @Test("a greedy requester with 20,000 requests in flight next to a polite one: the polite one is answered within 2 s every time")
        func greedyRequesterBesidePoliteOne() async throws {
            let broker = try await BrokerProcess(["--max-pending-per-agent", "100000"])
            defer { broker.stop() }
            let worker = try await SerialWorker(broker: broker, capability: "work")
            defer { worker.stop() }
            let greedy = try RawAgent(endpoint: broker.endpoint)
            defer { greedy.close() }
            #expect(try await greedy.register(id: "greedy", layer: "domain")?.code == .welcome)
            let backlog = 20_000
            try await greedy.send(all: (0..<backlog).map { _ in
                [HeaderEncoder.encode(.request(Request(callbackID: .random(), kind: .help, timeoutMilliseconds: 120_000,
                                                       target: .capability("work"), contentType: ""))), [1]]
            })
            try await waitUntil("the greedy backlog is in the broker") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).pending >= 5_000
            }
            let polite = try await connectedAgent("polite", broker: broker)
            for round in 0..<20 {
                let outcome = await polite.send(.help, to: .capability("work"), body: Array("round \(round)".utf8), timeout: .seconds(2))
                #expect(outcome.status == .ok, "round \(round) behind the greedy backlog: \(outcome.status) \(outcome.text)")
            }
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            #expect(status.agents.first { $0.id == "worker" }?.inFlight ?? 0 <= 256, "the worker is never given more than its room")
            #expect(status.pending > 2_000, "the greedy backlog was still there while the polite requester was served")
            await polite.close()
        }

        @Test("a greedy cross-layer caller with 10,000 calls in flight next to a polite one: the polite one is answered within 2 s every time")
        func greedyCrossLayerCaller() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: folder)
            defer { gateway.stop() }
            let worker = try await SerialWorker(broker: broker, layer: "infrastructure", capability: "persistence")
            defer { worker.stop() }
            let greedy = try await RawAgent.caller(gateway)
            defer { greedy.close() }
            try await greedy.send(all: (0..<10_000).map { _ in
                [HeaderEncoder.encode(.request(Request(callbackID: .random(), kind: .call, timeoutMilliseconds: 120_000,
                                                       target: .layer("infrastructure", capability: "persistence"),
                                                       contentType: "application/json"))), Array("{}".utf8)]
            })
            try await waitUntil("the greedy calls are in the broker") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).pending >= 2_000
            }
            let polite = try await connectedAgent("polite", layer: "domain", broker: broker, gateway: gateway.endpoint)
            for round in 0..<20 {
                let outcome = try await polite.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "persistence", payload: "round \(round)",
                                                                            timeout: .seconds(2), retries: 0))
                #expect(outcome.status == .ok, "round \(round) behind the greedy caller: \(outcome.status) \(outcome.text)")
            }
            #expect(try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).pending > 500,
                    "the greedy calls were still waiting while the polite caller was served")
            await polite.close()
        }

        @Test("a STATUS flood from 20 connections with 5,000 agents registered does not stall the broker")
        func statusFloodWithManyAgents() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let agents = 5_000
            let members = try await ManyAgents(count: agents, broker: broker)
            defer { members.close() }
            #expect(members.welcomed == agents)
            let askers = try (0..<20).map { _ in try RawAgent(endpoint: broker.endpoint) }
            defer { askers.forEach { $0.close() } }
            try await expectServedDuring("the STATUS flood", broker: broker) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for asker in askers {
                        group.addTask { try await asker.send(all: (0..<200).map { _ in [HeaderEncoder.encode(.status)] }) }
                    }
                    try await group.waitForAll()
                }
            }
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            #expect(status.agents.count >= agents, "the report lists every agent: \(status.agents.count)")
        }

        /// Registers `id` from a connection that then closes, and waits until the broker counts it away.
        private func makeAwayAgent(_ id: String, broker: BrokerProcess) async throws {
            let away = try RawAgent(endpoint: broker.endpoint)
            #expect(try await away.register(id: id, layer: "domain")?.code == .welcome)
            away.close()
            try await waitUntil("the closed agent is away") {
                try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).agents.contains { $0.id == id && $0.state == "away" }
            }
        }

        /// Runs `attack` while a well-behaved agent makes 50 round trips to an echo agent, each with a 2 s deadline,
        /// and expects every one answered OK.
        private func expectServedDuring(_ attackName: String, broker: BrokerProcess,
                                        _ attack: @escaping @Sendable () async throws -> Void) async throws {
            let echo = try await connectedAgent("echo", broker: broker) { request in .answer(bytes: request.body) }
            let asker = try await connectedAgent("asker", broker: broker)
            let flood = Task { try await attack() }
            for round in 0..<50 {
                let outcome = await asker.send(.help, to: .agent("echo"), body: Array("round \(round)".utf8), timeout: .seconds(2))
                #expect(outcome.status == .ok, "round \(round) during \(attackName): \(outcome.status) \(outcome.text)")
            }
            try await flood.value
            await asker.close(); await echo.close()
        }
    }
}

/// An agent that serves one request at a time, 1 ms each (a single-threaded worker): requests delivered to it queue
/// in its connection in the order the broker delivered them.
final class SerialWorker: Sendable {
    private let agent: RawAgent
    private let loop: Task<Void, Never>

    init(broker: BrokerProcess, layer: String = "domain", capability: String) async throws {
        let agent = try RawAgent(endpoint: broker.endpoint)
        guard try await agent.register(id: "worker", layer: layer, capabilities: [capability])?.code == .welcome else {
            throw TestFailure("the worker was not welcomed")
        }
        self.agent = agent
        loop = Task {
            while !Task.isCancelled {
                guard let (header, body) = try? await agent.next(timeout: .milliseconds(500)) else { continue }
                guard case .deliver(let deliver) = header else { continue }
                try? await Task.sleep(for: .milliseconds(1))
                try? await agent.send(.reply(Reply(deliveryID: deliver.deliveryID, status: .ok)), body: body)
            }
            agent.close()  // here, not from another thread while a call uses the socket
        }
    }

    /// Ends the worker within half a second.
    func stop() {
        loop.cancel()
    }
}

/// `count` agents registered from connections of their own (one registration per connection), sharing one libzmq
/// context; every socket call runs on a thread of its own, off the cooperative pool.
final class ManyAgents: @unchecked Sendable {
    private let context: Context
    private let sockets: [Socket]
    /// How many got their WELCOME.
    let welcomed: Int

    init(count: Int, broker: BrokerProcess) async throws {
        let context = try Context(maxSockets: Int32(count) + 16)
        let endpoint = broker.endpoint
        let (sockets, welcomed) = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<([Socket], Int), Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result {
                    let sockets = try (0..<count).map { index -> Socket in
                        let socket = try Socket(context, type: .dealer)
                        try socket.setLinger(milliseconds: 0)
                        try socket.setReceiveTimeout(milliseconds: 30_000)
                        try socket.connect(endpoint)
                        _ = try socket.send(HeaderEncoder.encode(.hello(Hello(instance: 1, agentID: "member-\(index)", layer: "domain",
                                                                              capabilities: ["work"]))))
                        return socket
                    }
                    let welcomed = try sockets.filter { socket in
                        guard let frames = try socket.receiveMultipart() else { return false }
                        return (try? HeaderDecoder.decode(frames[0].bytes)) == .welcome(Welcome(heartbeatMilliseconds: 1_000, liveness: 30,
                                                                                                 maxBodyBytes: 1 << 20))
                    }.count
                    return (sockets, welcomed)
                })
            }
        }
        self.context = context
        self.sockets = sockets
        self.welcomed = welcomed
    }

    func close() {
        sockets.forEach { $0.close() }
    }
}

import Foundation
import Parley
import ParleyWire
import Testing
import ZeroMQ

extension BrokerIntegration {
    /// What the broker holds for a peer that does not read (issue 12): libzmq's queues per connection have a byte
    /// budget besides their message count (`peer-queue-bytes`, `events-queue-bytes`, deps/libzmq/queue-budgets.patch),
    /// and one events connection holds at most `max-subscriptions-per-connection` subscriptions. Each test makes the
    /// broker hold what the unbounded queues held before (run with the budgets raised, they pass the peak bound by
    /// hundreds of megabytes) and checks the peak resident size with the defaults.
    @Suite("Queue budgets")
    struct QueueBudgetTests {
        @Test("a requester that never reads its 256 KiB answers is marked away once 16 MiB wait for it; after reading it re-registers and a retry gets the cached answer")
        func requesterThatNeverReadsLargeAnswers() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let echo = EchoRecorder()
            let server = try await connectedAgent("echo", broker: broker, handler: echo.handler())
            let sink = try RawAgent(endpoint: broker.endpoint, receiveHighWaterMark: 1)
            defer { sink.close() }
            #expect(try await sink.register(id: "sink", layer: "domain")?.code == .welcome)
            let body = [UInt8](repeating: 0x5A, count: 256 << 10)
            var first: CallbackID?
            // Eight waves of 250 requests (64 MB of answers each, within the requester's 64 MiB of pending bytes):
            // with unbounded queues the broker would hold every answer, 500 MB.
            for _ in 0..<8 {
                let ids = (0..<250).map { _ in CallbackID.random() }
                first = first ?? ids[0]
                try await sink.send(all: ids.map { [Frames.request(callbackID: $0, target: "agent:echo"), body] })
                try await waitUntil("the wave ended") {
                    try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).pending == 0
                }
            }
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            #expect(status.agents.first { $0.id == "sink" }?.state == "away", "a peer whose queue is full counts as gone")
            #expect(status.agents.first { $0.id == "echo" }?.state == "alive")
            // Budget: the idle broker (~25 MB), the sink's queue (16 MiB), its pending bodies (64 MiB at most), the
            // outcome cache (64 MiB at most, sharing the answers' bodies), the echo agent's queue and read buffers.
            try broker.checkPeakMemory(under: 200, "a requester that never reads 256 KiB answers")

            // The sink reads what waited for it, registers again and resends its first request: the answer comes
            // from the outcome cache, the handler does not run again.
            while try await sink.next(timeout: .milliseconds(500)) != nil {}
            let handled = echo.calls
            #expect(try await sink.register(id: "sink", layer: "domain")?.code == .welcome)
            try await sink.send([Frames.request(callbackID: try #require(first), target: "agent:echo"), body])
            let answer = try #require(try await sink.next(timeout: .seconds(10)))
            guard case .result(let result) = answer.header else { Issue.record("expected RESULT, got \(answer.header)"); return }
            #expect(result.callbackID == first && result.status == .ok && answer.body == body, "\(result), \(answer.body.count) bytes: \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
            #expect(echo.calls == handled, "the retry was answered from the cache")
            await server.close()
        }

        @Test("a subscriber that never reads 64 KiB events holds at most 16 MiB of them in the broker; publishing goes on")
        func subscriberThatNeverReadsLargeEvents() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let publisher = try await connectedAgent("pub", broker: broker)
            let context = try Context()
            let stalled = try Socket(context, type: .sub)
            defer { stalled.close() }
            try stalled.setLinger(milliseconds: 0)
            try stalled.setReceiveHighWaterMark(1)
            try stalled.subscribe("callback.pub.")
            try stalled.connect(broker.eventsEndpoint)
            // The subscription is in force once one event arrives; from then on the subscriber reads nothing.
            try await waitUntil("the stalled subscriber got its first event") {
                _ = try await publisher.publish("warmup", data: [1])
                return try stalled.receive(dontWait: true) != nil
            }
            let body = [UInt8](repeating: 0x33, count: 64 << 10)
            for _ in 0..<4_000 { _ = try await publisher.publish("tick", data: body) }  // 256 MB
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            #expect(status.eventsPublished >= 4_001)
            // Budget: the idle broker (~25 MB), the topic's retention (16 MiB), the subscriber's queue (16 MiB, partly
            // the same bodies), the publisher's read buffers.
            try broker.checkPeakMemory(under: 120, "a subscriber that never reads 64 KiB events")
            await publisher.close()
        }

        @Test("a SUB sending 200,000 distinct subscriptions is cut off at 10,000; the broker stays small and serves a well-behaved subscriber")
        func subscriptionFloodIsCutOff() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let publisher = try await connectedAgent("pub", broker: broker)
            let subscriber = try await connectedAgent("sub", broker: broker)
            let subscription = try subscriber.subscribe(to: "pub", from: .sequence(1))
            // One SUB (no churners) subscribing to 200,000 prefixes; after the cut libzmq reconnects it and it sends
            // them all again.
            let flood = try SubscriberFlood(endpoint: broker.eventsEndpoint, churners: 0)
            defer { flood.close() }
            try await flood.keep(prefixes: 200_000, last: Array("callback.flood.".utf8))
            try await Task.sleep(for: .seconds(2))
            for index in 0..<100 { _ = try await publisher.publish("after_flood", data: Array("\(index)".utf8)) }
            let received = await collectEvents(subscription, expected: 100)
            #expect(received.sequences == Array(1...100), "every event once, in order")
            // Budget: the idle broker (~25 MB), 10,000 subscriptions in libzmq's tries and the subscription messages
            // waiting to be read (a few MB each time the flooder reconnects).
            try broker.checkPeakMemory(under: 100, "200,000 subscriptions from one SUB")
            await publisher.close()
            await subscriber.close()
        }

        @Test("a broker that stops reading makes the gateway end calls OVERLOADED once 64 MiB wait for it; the gateway stays small and serves again when the broker resumes")
        func gatewayQueueToAStalledBroker() async throws {
            // Heartbeats of 2 s: the gateway counts the stopped broker as lost only after 6 s, so that meanwhile every
            // call is forwarded into its queue to the broker.
            let broker = try await BrokerProcess(["--heartbeat-ms", "2000"])
            defer { kill(broker.child.processIdentifier, SIGCONT); broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: try TemporaryFolder(), maxPayload: "1MiB")
            defer { gateway.stop() }
            let server = try await connectedAgent("store", layer: "infrastructure", capabilities: ["echo"], broker: broker,
                                                  handler: EchoRecorder().handler())
            let caller = try await connectedAgent("app", layer: "domain", broker: broker, gateway: gateway.endpoint)
            @Sendable func call(_ payload: String, timeout: Duration) async throws -> Status {
                try await caller.executeOutcome(LayerCallback(toLayer: "infrastructure", need: "echo", payload: payload,
                                                              timeout: timeout, retries: 0)).status
            }
            #expect(try await call("first", timeout: .seconds(10)) == .ok)

            kill(broker.child.processIdentifier, SIGSTOP)
            // 200 calls of 1 MB: with an unbounded queue the gateway would hold them all (200 MB).
            let body = String(repeating: "x", count: 1_000_000)
            let statuses = try await withThrowingTaskGroup(of: Status.self) { group in
                for _ in 0..<200 { group.addTask { try await call(body, timeout: .seconds(3)) } }
                return try await group.reduce(into: [Status]()) { $0.append($1) }
            }
            kill(broker.child.processIdentifier, SIGCONT)
            #expect(statuses.contains(.overloaded), "calls that found the queue to the broker full: \(Set(statuses))")
            // Budget: the idle gateway (~20 MB), its queue to the broker (64 MiB), each caller's queue (16 MiB) and the
            // calls being read.
            try gateway.checkPeakMemory(under: 150, "200 calls of 1 MB to a stopped broker")
            try await waitUntil("calls go through again") { try await call("again", timeout: .seconds(5)) == .ok }
            await caller.close()
            await server.close()
        }

        @Test("30 callers that never read their 1 MB answers hold at most caller-queue-total-bytes in the gateway together, not 16 MiB each")
        func callersThatNeverReadAddUpToTheTotalBudget() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: try TemporaryFolder(), maxPayload: "1MiB",
                                                   arguments: ["--caller-queue-total-bytes", "32MiB"])
            defer { gateway.stop() }
            let server = try await connectedAgent("store", layer: "infrastructure", capabilities: ["echo"], broker: broker,
                                                  handler: EchoRecorder().handler())
            // Callers that read nothing after their WELCOME (a receive queue of one message), in three waves of 8 calls of
            // 1 MB each (240 MB a wave, within the broker's pending bytes): the gateway would hold 16 MiB of answers for
            // each (480 MiB); the total budget lets them hold 32 MiB plus 1 MiB and one answer each.
            let body = [UInt8](repeating: 0x42, count: 1_000_000)
            var callers: [RawAgent] = []
            defer { for caller in callers { caller.close() } }
            for index in 0..<30 {
                let caller = try RawAgent(endpoint: gateway.endpoint, receiveHighWaterMark: 1)
                callers.append(caller)
                #expect(try await caller.register(id: "app-\(index)", layer: "domain")?.code == .welcome)
            }
            for _ in 0..<3 {
                for caller in callers {
                    try await caller.send(all: (0..<8).map { _ in [Frames.request(target: "layer:infrastructure/echo"), body] })
                }
                try await waitUntil("the broker answered the wave") {
                    try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5)).pending == 0
                }
            }
            // Budget: the idle gateway (~20 MB), 32 MiB + 30 × (1 MiB + one answer) of answers, the calls being read.
            try gateway.checkPeakMemory(under: 200, "30 callers never reading 1 MB answers")
            await server.close()
        }
    }
}

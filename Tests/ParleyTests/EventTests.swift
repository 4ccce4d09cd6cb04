import Parley
import ParleyWire
import Synchronization
import Testing

extension BrokerIntegration {
    @Suite("Events")
    struct EventTests {
        /// Publishes `count` events named `event` from `agent`, `window` at a time, and returns their sequences.
        private func publishMany(_ agent: Agent, _ event: String, count: Int, window: Int = 200) async throws -> [UInt64] {
            var sequences: [UInt64] = []
            var next = 0
            while next < count {
                let batch = next..<min(count, next + window)
                sequences += try await withThrowingTaskGroup(of: UInt64.self) { group in
                    for index in batch { group.addTask { try await agent.publish(event, ["n": index]).sequence } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                next = batch.upperBound
            }
            return sequences
        }

        /// Collects notices until `expected` events arrived (or `limit` passes).
        private func collect(_ subscription: EventSubscription, expected: Int, limit: Duration = .seconds(120))
            async -> (events: [ReceivedEvent], gaps: [(Topic, UInt64, UInt64)]) {
            let task = Task {
                var events: [ReceivedEvent] = []
                var gaps: [(Topic, UInt64, UInt64)] = []
                for await notice in subscription {
                    switch notice {
                    case .event(let event): events.append(event)
                    case .gap(let topic, let from, let to): gaps.append((topic, from, to))
                    }
                    if events.count >= expected { break }
                }
                return (events, gaps)
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                subscription.cancel()
            }
            defer { timer.cancel() }
            return await task.value
        }

        @Test("100,000 events from 2 publishers reach 3 subscribers, one slow, each exactly once and in order")
        func manyEventsSlowSubscriber() async throws {
            let broker = try await BrokerProcess(["--events-hwm", "1000", "--retention-count", "200000"])
            defer { broker.stop() }
            let fast1 = try await connectedAgent("fast-1", broker: broker)
            let fast2 = try await connectedAgent("fast-2", broker: broker)
            let slow = try await connectedAgent("slow", broker: broker, eventsHighWaterMark: 100, backlogLimit: 100)
            let subscriptions = try [fast1, fast2, slow].map { agent in
                [try agent.subscribe(to: "pub-a", from: .sequence(1)), try agent.subscribe(to: "pub-b", from: .sequence(1))]
            }
            let publisherA = try await connectedAgent("pub-a", broker: broker)
            let publisherB = try await connectedAgent("pub-b", broker: broker)
            let perPublisher = 50_000
            async let fastA1 = collect(subscriptions[0][0], expected: perPublisher)
            async let fastB1 = collect(subscriptions[0][1], expected: perPublisher)
            async let fastA2 = collect(subscriptions[1][0], expected: perPublisher)
            async let fastB2 = collect(subscriptions[1][1], expected: perPublisher)
            async let sentA = publishMany(publisherA, "on_task_complete", count: perPublisher)
            async let sentB = publishMany(publisherB, "on_task_start", count: perPublisher)
            #expect(try await Set(sentA) == Set(1...UInt64(perPublisher)))
            #expect(try await Set(sentB) == Set(1...UInt64(perPublisher)))
            // The slow subscriber reads nothing until publishing is over: its copies overflow and are dropped.
            async let slowA = collect(subscriptions[2][0], expected: perPublisher)
            async let slowB = collect(subscriptions[2][1], expected: perPublisher)
            for (name, received) in await [("fast-1/a", fastA1), ("fast-1/b", fastB1), ("fast-2/a", fastA2), ("fast-2/b", fastB2),
                                           ("slow/a", slowA), ("slow/b", slowB)] {
                #expect(received.gaps.isEmpty, "\(name) got gaps")
                let sequences = received.events.map(\.sequence)
                #expect(sequences.count == perPublisher, "\(name): \(sequences.count) events")
                #expect(sequences == Array(1...UInt64(sequences.count)), "\(name): out of order or repeated")
            }
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint)
            #expect(status.eventsPublished == UInt64(2 * perPublisher))
            #expect(status.eventsReplayed > 0, "the slow subscriber caught up by replay")
            for agent in [fast1, fast2, slow, publisherA, publisherB] { await agent.close() }
        }

        @Test("events no longer retained come as a GAP naming the exact missing range, then the rest in order")
        func retentionGap() async throws {
            let broker = try await BrokerProcess(["--retention-count", "5"])
            defer { broker.stop() }
            let publisher = try await connectedAgent("game", broker: broker)
            _ = try await publishMany(publisher, "on_resource_low", count: 20, window: 1)
            let subscriber = try await connectedAgent("watcher", broker: broker)
            let received = await collect(try subscriber.subscribe(to: "game", from: .sequence(3)), expected: 5)
            #expect(received.gaps.count == 1)
            #expect(received.gaps.first.map { [$0.1, $0.2] } == [3, 15])
            #expect(received.events.map(\.sequence) == [16, 17, 18, 19, 20])
            #expect(received.events.allSatisfy { $0.replayed })
            await publisher.close()
            await subscriber.close()
        }

        @Test("a subscriber of agent ab receives none of agent abc's events")
        func topicTerminator() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let subscriber = try await connectedAgent("watcher", broker: broker)
            let subscription = try subscriber.subscribe(to: "ab")
            let eventOnly = try subscriber.subscribe(to: "abc", events: ["on_error"])
            let ab = try await connectedAgent("ab", broker: broker)
            let abc = try await connectedAgent("abc", broker: broker)
            try await Task.sleep(for: .milliseconds(300))  // let the subscriptions reach the broker (slow joiner)
            for index in 0..<10 {
                _ = try await abc.publish("on_error", ["n": index])
                _ = try await abc.publish("on_error_detail", ["n": index])
                _ = try await ab.publish("on_task_start", ["n": index])
            }
            let received = await collect(subscription, expected: 10, limit: .seconds(30))
            #expect(received.events.count == 10)
            #expect(received.events.allSatisfy { $0.topic.agent == "ab" })
            let errors = await collect(eventOnly, expected: 10, limit: .seconds(30))
            #expect(errors.events.allSatisfy { $0.topic.event == "on_error" })
            #expect(errors.events.count == 10)
            await subscriber.close(); await ab.close(); await abc.close()
        }

        @Test("a publisher resending 1,000 events after a forced reconnect has each delivered once")
        func resendAfterReconnect() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let subscriber = try await connectedAgent("watcher", broker: broker)
            let subscription = try subscriber.subscribe(to: "resender", from: .sequence(1))
            let instance = UInt64.random(in: 1...(.max))
            let ids = (0..<1_000).map { _ in CallbackID.random() }
            let topic = try #require(Topic(agent: "resender", event: "on_task_complete"))
            let first = try RawAgent(endpoint: broker.endpoint)
            #expect(try await first.register(id: "resender", layer: "domain", instance: instance)?.code == .welcome)
            for id in ids[..<600] {
                try await first.send(.publish(Publish(eventID: id, topic: topic, contentType: "text/plain")), body: Array(id.description.utf8))
            }
            var firstConfirms = 0
            while firstConfirms < 300, let (header, _) = try await first.next() {
                if case .confirm = header { firstConfirms += 1 }
            }
            first.close()  // the connection drops with confirms (and maybe publishes) still in flight
            let second = try RawAgent(endpoint: broker.endpoint)
            defer { second.close() }
            #expect(try await second.register(id: "resender", layer: "domain", instance: instance)?.code == .welcome)
            for id in ids {
                try await second.send(.publish(Publish(eventID: id, topic: topic, contentType: "text/plain")), body: Array(id.description.utf8))
            }
            var confirmed: [CallbackID: UInt64] = [:]
            while confirmed.count < ids.count, let (header, _) = try await second.next() {
                if case .confirm(let confirm) = header { confirmed[confirm.eventID] = confirm.sequence }
            }
            #expect(Set(confirmed.values) == Set(1...1_000))
            let received = await collect(subscription, expected: 1_000, limit: .seconds(30))
            #expect(received.events.map(\.sequence) == Array(1...1_000))
            #expect(Set(received.events.map(\.eventID)) == Set(ids))
            #expect(try await BrokerStatus.fetch(endpoint: broker.endpoint).eventDedupeHits >= 300)
            await subscriber.close()
        }

        @Test("trigger runs the local handlers and publishes; a failing handler raises on_error")
        func triggerAndOnError() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let watcher = try await connectedAgent("watcher", broker: broker)
            let subscription = try watcher.subscribe(to: "hero", from: .sequence(1))
            let hero = try await connectedAgent("hero", broker: broker)
            let ran = Mutex<[String]>([])
            hero.on("on_task_start", priority: 10) { _ in ran.withLock { $0.append("first") }; return .next }
            hero.on("on_task_start", priority: 5) { _ in struct Oops: Error {}; throw Oops() }
            hero.on("on_task_start", priority: 1) { _ in ran.withLock { $0.append("last") }; return .next }
            let report = try await hero.trigger("on_task_start", ["quest": "dragon"])
            #expect(ran.withLock { $0 } == ["first", "last"])
            #expect(report.dispatch.failures.count == 1)
            #expect(report.receipt.sequence == 1)
            let received = await collect(subscription, expected: 2, limit: .seconds(30))
            let names = received.events.map(\.topic.event)
            #expect(names.contains("on_task_start"))
            #expect(names.contains("on_error"))
            await hero.close(); await watcher.close()
        }

        @Test("on_help_needed and on_deadline_approaching fire on the serving side, and on_deadline_approaching on the requester's")
        func builtInEvents() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let fired = Mutex<[String]>([])
            let helper = try await connectedAgent("helper", broker: broker, handler: EchoRecorder().handler(delay: .milliseconds(900)))
            helper.on(BuiltInEvent.helpNeeded) { context in fired.withLock { $0.append("helper:help:\(context.source)") }; return .next }
            helper.on(BuiltInEvent.deadlineApproaching) { _ in fired.withLock { $0.append("helper:deadline") }; return .next }
            let asker = try await connectedAgent("asker", broker: broker)
            asker.on(BuiltInEvent.deadlineApproaching) { _ in fired.withLock { $0.append("asker:deadline") }; return .next }
            let outcome = await asker.send(.help, to: .agent("helper"), body: Array("hi".utf8), timeout: .seconds(1))
            #expect(outcome.status == .ok)
            #expect(Set(fired.withLock { $0 }) == ["helper:help:asker", "helper:deadline", "asker:deadline"])
            await asker.close(); await helper.close()
        }

        @Test("hostile event input gets a clear error and the broker keeps serving")
        func hostileEvents() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let mallory = try RawAgent(endpoint: broker.endpoint)
            defer { mallory.close() }
            #expect(try await mallory.register(id: "mallory", layer: "domain")?.code == .welcome)
            let publishHeader = { (topic: String) -> [UInt8] in
                [0x50, 0x01, 0x30] + [UInt8](repeating: 1, count: 16) + [UInt8(topic.utf8.count)] + Array(topic.utf8) + [0]
            }
            let cases: [(String, [UInt8], String)] = [
                ("a malformed publish", [0x50, 0x01, 0x30, 1, 2, 3], "truncated"),
                ("a 1 MB topic", [0x50, 0x01, 0x30] + [UInt8](repeating: 1, count: 16) + [255] + [UInt8](repeating: 0x61, count: 1_048_576), "invalid topic"),
                ("no callback. prefix", publishHeader("events.mallory.on_error"), "does not start with 'callback.'"),
                ("a dot in the agent id", publishHeader("callback.mal.lory.on_error"), "not callback.<agent>.<event>"),
                ("someone else's topic", publishHeader("callback.alice.on_error"), "may publish only on callback.mallory."),
                ("a replay from the future", HeaderEncoder.encode(.replay(Replay(selector: .topic(Topic(agent: "mallory", event: "x")!), from: 99))), "beyond the latest"),
            ]
            for (what, frame, expected) in cases {
                try await mallory.send([frame])
                let answer = try #require(try await mallory.next(), "no answer to \(what)")
                guard case .error(let notice) = answer.header else { Issue.record("\(what): expected ERROR, got \(answer.header)"); continue }
                #expect(notice.status == .badRequest || notice.status == .unauthorized, "\(what)")
                #expect(String(decoding: answer.body, as: UTF8.self).contains(expected), "\(what): \(String(decoding: answer.body, as: UTF8.self))")
            }
            let fine = try await connectedAgent("fine", broker: broker)
            #expect(try await fine.publish("on_task_start", ["ok": true]).sequence == 1)
            await fine.close()
        }
    }
}

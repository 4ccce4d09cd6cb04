import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Events in the broker core: sequences, confirms, retention, replay")
struct EventCoreTests {
    private func publish(_ harness: inout BrokerHarness, _ agent: Agent, _ event: String, id: CallbackID = .random(),
                         body: String = "{}") -> [Outgoing] {
        harness.send(.publish(Publish(eventID: id, topic: Topic(agent: agent.id, event: event)!, contentType: "application/json")),
                     body: TestPayload(body), from: agent)
    }

    private func confirms(_ messages: [Outgoing]) -> [Confirm] {
        messages.compactMap { if case .confirm(let confirm) = $0.header { confirm } else { nil } }
    }

    @Test("events get consecutive per-topic sequences, go out before their CONFIRM, and carry the payload untouched")
    func sequencesAndConfirms() {
        var harness = BrokerHarness()
        let game = harness.register("game")
        let first = confirms(publish(&harness, game, "on_task_start", body: "a"))
        let second = confirms(publish(&harness, game, "on_task_start", body: "b"))
        let other = confirms(publish(&harness, game, "on_error"))
        #expect(first.map(\.sequence) == [1])
        #expect(second.map(\.sequence) == [2])
        #expect(other.map(\.sequence) == [1])
        #expect(harness.published.count == 3)
        #expect(harness.published.first?.topicFrame == Array("callback.game.on_task_start.".utf8))
        #expect(harness.published.first?.body?.text == "a")
    }

    @Test("a topic published again after 200 others were opened in between (the topic table grew) continues its own sequence and retention")
    func topicFoundAgainAfterTheTableGrew() {
        var harness = BrokerHarness(.forTests { $0.maxTopicsPerAgent = 1_000 })
        let game = harness.register("game")
        _ = publish(&harness, game, "steady", body: "s1")
        _ = publish(&harness, game, "steady", body: "s2")
        for index in 0..<200 {
            #expect(confirms(publish(&harness, game, "other_\(index)")).map(\.sequence) == [1])
            if index % 50 == 0 { #expect(confirms(publish(&harness, game, "steady", body: "s\(3 + index / 50)")).count == 1) }
        }
        #expect(confirms(publish(&harness, game, "steady", body: "s7")).map(\.sequence) == [7])
        let steady = Topic(agent: "game", event: "steady")!
        let replayed = harness.send(.replay(Replay(selector: .topic(steady), from: 1)), from: harness.newPeer())
        #expect(replayed.compactMap(\.payload).map(\.text) == ["s1", "s2", "s3", "s4", "s5", "s6", "s7"])
    }

    @Test("a resent event id is confirmed again with its first sequence and not published twice")
    func publisherDedupe() {
        var harness = BrokerHarness()
        let game = harness.register("game")
        let id = CallbackID.random()
        let first = confirms(publish(&harness, game, "on_task_start", id: id))
        let again = confirms(publish(&harness, game, "on_task_start", id: id))
        #expect(first == again)
        #expect(harness.published.count == 1)
        #expect(harness.snapshot.eventDedupeHits == 1)
    }

    @Test("publishing on another agent's topic is refused with UNAUTHORIZED naming the topic")
    func foreignTopic() throws {
        var harness = BrokerHarness()
        let mallory = harness.register("mallory")
        let answer = harness.send(.publish(Publish(eventID: .random(), topic: Topic(agent: "alice", event: "on_error")!, contentType: "")),
                                  from: mallory)
        let notice = try #require(answer.first?.error)
        #expect(notice.status == .unauthorized)
        #expect(answer.first?.text?.contains("callback.mallory.") == true)
        #expect(harness.published.isEmpty)
    }

    @Test("a replay of events that all left retention answers GAP and REPLAY_END instead of crashing")
    func replayAfterEverythingAgedOut() throws {
        var harness = BrokerHarness(.forTests { $0.retentionMilliseconds = 1_000 })
        let game = harness.register("game")
        for _ in 0..<3 { _ = publish(&harness, game, "on_task_start") }
        _ = harness.advance(by: 40_000)  // past the age limit, evicted on the heartbeat tick
        let topic = Topic(agent: "game", event: "on_task_start")!
        let watcher = harness.newPeer()
        let answer = harness.send(.replay(Replay(selector: .topic(topic), from: 1)), from: watcher)
        #expect(answer.map(\.header) == [.gap(Gap(topic: topic, from: 1, to: 3)),
                                         .replayEnd(ReplayEnd(selector: .topic(topic), events: 0, truncated: false))])
        let bounded = harness.send(.replay(Replay(selector: .topic(topic), from: 1, to: 2)), from: watcher)
        #expect(bounded.first?.header == .gap(Gap(topic: topic, from: 1, to: 2)))
    }

    @Test("retention by count: a replay from the start gets a GAP for the evicted part, then the retained events in order")
    func retentionByCount() {
        var harness = BrokerHarness(.forTests { $0.retentionCount = 2 })
        let game = harness.register("game")
        for index in 0..<5 { _ = publish(&harness, game, "on_task_start", body: "\(index)") }
        let topic = Topic(agent: "game", event: "on_task_start")!
        let answer = harness.send(.replay(Replay(selector: .agent("game"), from: 1)), from: harness.newPeer())
        #expect(answer.first?.header == .gap(Gap(topic: topic, from: 1, to: 3)))
        let replayed = answer.compactMap { if case .event(let event) = $0.header { event.sequence } else { nil } }
        #expect(replayed == [4, 5])
        #expect(answer.compactMap(\.payload).map(\.text) == ["3", "4"])
    }

    @Test("the broker-wide budget drops the oldest events across topics down to 90% of it, with GAPs for them")
    func retentionBudgetAcrossTopics() throws {
        // Room for 10 events of 100 bytes (each counts 100 + 256); per-topic limits are far away.
        let perEvent = 100 + 256
        var harness = BrokerHarness(.forTests { $0.retentionTotalBytes = 10 * perEvent })
        let game = harness.register("game")
        let body = String(repeating: "x", count: 100)
        for event in ["a", "b", "c"] {
            for _ in 0..<4 {
                _ = publish(&harness, game, event, body: body)
                harness.setClockWithoutTick(to: harness.now + 1)
            }
        }
        // The 11th event took the total over the budget: the two oldest (a's first two) went, leaving 9 of 10;
        // the 12th fits again.
        #expect(harness.snapshot.retainedEvents == 10)
        #expect(harness.snapshot.retainedBytes == 1_000)
        #expect(harness.snapshot.eventsEvictedForBudget == 2)
        let answer = harness.send(.replay(Replay(selector: .agent("game"), from: 1)), from: harness.newPeer())
        #expect(answer.first?.header == .gap(Gap(topic: Topic(agent: "game", event: "a")!, from: 1, to: 2)))
        let replayed = answer.compactMap { if case .event(let event) = $0.header { "\(event.topic.event)\(event.sequence)" } else { nil } }
        #expect(replayed == ["a3", "a4", "b1", "b2", "b3", "b4", "c1", "c2", "c3", "c4"])
        #expect(harness.snapshot.gapsReported == 1)
    }

    @Test("a topic that left retention through the budget keeps its sequence: the next event continues it")
    func budgetKeepsSequences() {
        var harness = BrokerHarness(.forTests { $0.retentionTotalBytes = 3 * (10 + 256) })
        let game = harness.register("game")
        let body = String(repeating: "y", count: 10)
        for _ in 0..<3 { _ = publish(&harness, game, "old", body: body) }
        harness.setClockWithoutTick(to: harness.now + 1)
        for _ in 0..<3 { _ = publish(&harness, game, "new", body: body) }
        let old = Topic(agent: "game", event: "old")!
        #expect(harness.send(.replay(Replay(selector: .topic(old), from: 1)), from: harness.newPeer()).first?.header
                == .gap(Gap(topic: old, from: 1, to: 3)), "every event of the older topic went")
        #expect(confirms(publish(&harness, game, "old", body: body)).map(\.sequence) == [4])
    }

    @Test("a replay from beyond the latest sequence is refused; the next sequence is an empty answer")
    func replayFromTheFuture() {
        var harness = BrokerHarness()
        let game = harness.register("game")
        _ = publish(&harness, game, "on_task_start")
        let topic = Topic(agent: "game", event: "on_task_start")!
        let peer = harness.newPeer()
        #expect(harness.send(.replay(Replay(selector: .topic(topic), from: 3)), from: peer).first?.error?.status == .badRequest)
        #expect(harness.send(.replay(Replay(selector: .topic(topic), from: 2)), from: peer).map(\.header)
                == [.replayEnd(ReplayEnd(selector: .topic(topic), events: 0, truncated: false))])
    }

    @Test("a PUBLISH opening a topic beyond the broker's maximum gets OVERLOADED")
    func topicLimit() {
        var harness = BrokerHarness(.forTests { $0.maxTopics = 2 })
        let game = harness.register("game")
        _ = publish(&harness, game, "one")
        _ = publish(&harness, game, "two")
        #expect(publish(&harness, game, "three").first?.error?.status == .overloaded)
        #expect(confirms(publish(&harness, game, "one")).map(\.sequence) == [2])
    }

    @Test("one agent's topic flood stops at its own quota and does not block another agent's topics")
    func topicQuotaPerAgent() {
        var harness = BrokerHarness(.forTests { $0.maxTopics = 10; $0.maxTopicsPerAgent = 3 })
        let flooder = harness.register("flooder")
        let game = harness.register("game")
        for index in 0..<3 { #expect(confirms(publish(&harness, flooder, "t\(index)")).count == 1) }
        let refused = publish(&harness, flooder, "t3")
        #expect(refused.first?.error?.status == .overloaded)
        #expect(refused.first?.text?.hasPrefix("agent 'flooder' holds its maximum of 3 topics") == true)
        #expect(confirms(publish(&harness, flooder, "t0")).map(\.sequence) == [2], "its existing topics stay open")
        #expect(confirms(publish(&harness, game, "on_task_start")).map(\.sequence) == [1])
    }

    @Test("an agent at its topic quota has the topics whose events all left retention forgotten; a topic opened again starts above every forgotten sequence, and a replay of a forgotten one gets a GAP")
    func forgottenTopics() throws {
        var harness = BrokerHarness(.forTests { $0.maxTopicsPerAgent = 2; $0.retentionMilliseconds = 1_000 })
        let flooder = harness.register("flooder")
        let game = harness.register("game")
        for _ in 0..<5 { _ = publish(&harness, flooder, "a") }
        _ = publish(&harness, flooder, "b")
        _ = publish(&harness, game, "quiet")
        #expect(publish(&harness, flooder, "c").first?.error?.status == .overloaded)
        for _ in 0..<5 {  // the events age out and the BEACON rounds end
            _ = harness.advance(by: 10_000)
            harness.heartbeat(flooder, game)
        }
        #expect(harness.snapshot.topics == 1, "the flooder's two topics are forgotten; game's, under its quota, stays")

        #expect(confirms(publish(&harness, flooder, "c")).map(\.sequence) == [6], "a new topic starts above a's #5")
        #expect(confirms(publish(&harness, flooder, "a")).map(\.sequence) == [6], "a opened again never reuses #1…#5")
        #expect(confirms(publish(&harness, game, "quiet")).map(\.sequence) == [2])
        #expect(confirms(publish(&harness, game, "fresh")).map(\.sequence) == [1], "another agent's topics are not affected")

        let b = try #require(Topic(agent: "flooder", event: "b"))
        let answer = harness.send(.replay(Replay(selector: .topic(b), from: 1)), from: harness.newPeer())
        #expect(answer.map(\.header) == [.gap(Gap(topic: b, from: 1, to: 5)), .replayEnd(ReplayEnd(selector: .topic(b), events: 0, truncated: false))])
        #expect(harness.send(.replay(Replay(selector: .topic(b), from: 7)), from: harness.newPeer()).first?.error?.status == .badRequest)
    }
}

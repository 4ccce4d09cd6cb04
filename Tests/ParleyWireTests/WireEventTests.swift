import ParleyWire
import Testing

@Suite("Event topics, selectors and event headers")
struct WireEventTests {
    @Test("a topic prints as callback.<agent>.<event> and parses back")
    func topicRoundTrip() throws {
        let topic = try #require(Topic(agent: "Planner_1", event: "on-task_start"))
        #expect(topic.description == "callback.Planner_1.on-task_start")
        #expect(Topic(topic.description) == topic)
        #expect(topic.agent == "Planner_1")
        #expect(topic.event == "on-task_start")
    }

    @Test("texts that are not callback.<agent>.<event> are not topics",
          arguments: ["", "callback.", "callback.a", "callback.a.", "callback..e", "callback.a.b.c", "events.a.b", "Callback.a.b",
                      "callback.a b.e", "callback.a.e!", "callback." + String(repeating: "a", count: 65) + ".e"])
    func badTopics(_ text: String) {
        #expect(Topic(text) == nil)
        #expect(Topic.problem(text) != nil)
    }

    @Test("a topic's subscription frame ends with a terminator, so one agent's prefix never matches a longer agent id")
    func topicFrameTerminated() throws {
        let short = try #require(Topic(agent: "ab", event: "on_error"))
        let long = try #require(Topic(agent: "abc", event: "on_error"))
        let longerEvent = try #require(Topic(agent: "ab", event: "on_error_2"))
        #expect(short.frame == Array("callback.ab.on_error.".utf8))
        #expect(!long.frame.starts(with: TopicSelector.agent("ab").subscription))
        #expect(!longerEvent.frame.starts(with: short.frame))
        #expect(short.frame.starts(with: TopicSelector.agent("ab").subscription))
    }

    @Test("selectors name one topic or all of one agent's topics, and round trip")
    func selectors() throws {
        let topic = try #require(Topic(agent: "ab", event: "on_error"))
        #expect(TopicSelector("callback.ab.on_error") == .topic(topic))
        #expect(TopicSelector("callback.ab.") == .agent("ab"))
        #expect(TopicSelector.agent("ab").description == "callback.ab.")
        #expect(TopicSelector("callback.") == nil)
        #expect(TopicSelector("callback.a.b.") == nil)
        #expect(TopicSelector.agent("ab").matches(topic))
        #expect(!TopicSelector.agent("abc").matches(topic))
        #expect(TopicSelector.topic(topic).matches(topic))
    }

    @Test("a PUBLISH with a malformed topic is refused, naming the topic field")
    func publishBadTopic() {
        let bytes = HeaderBytes(.publish).id(Samples.callbackID).text("callback.a.b.c").text("").bytes
        #expect(decodeError(bytes)?.fieldName == "topic")
    }

    @Test("a REPLAY from sequence 0, or ending before it starts, is refused")
    func replayBounds() {
        let fromZero = HeaderBytes(.replay).text("callback.ab.").u64(0).u64(0).bytes
        #expect(decodeError(fromZero)?.fieldName == "from")
        let backwards = HeaderBytes(.replay).text("callback.ab.on_error").u64(5).u64(4).bytes
        #expect(decodeError(backwards)?.fieldName == "to")
        let single = HeaderBytes(.replay).text("callback.ab.on_error").u64(5).u64(5).bytes
        #expect(decodeError(single) == nil)
    }

    @Test("REPLAY_END's truncated flag is 0 or 1; other values are refused")
    func replayEndFlag() {
        let valid = HeaderBytes(.replayEnd).text("callback.ab.").u32(3)
        #expect(decodeError(valid.u8(0).bytes) == nil)
        #expect(decodeError(valid.u8(1).bytes) == nil)
        let accepted = (UInt8(2)...UInt8(255)).filter { decodeError(valid.u8($0).bytes) == nil }
        #expect(accepted.isEmpty, "flags decoded as true: \(accepted.count)")
        #expect(decodeError(valid.u8(2).bytes)?.fieldName == "truncated")
    }

    @Test("every proper prefix of a PUBLISH and an EVENT is refused as truncated",
          arguments: Samples.everyCommand.filter { [.publish, .event].contains($0.code) })
    func eventTruncations(_ header: Header) {
        let bytes = HeaderEncoder.encode(header)
        for length in 3..<bytes.count {
            #expect(decodeError(Array(bytes.prefix(length)))?.isTruncated == true, "prefix of \(length) bytes")
        }
    }
}

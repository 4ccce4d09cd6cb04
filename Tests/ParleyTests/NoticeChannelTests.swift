@testable import Parley
import ParleyWire
import Testing

/// The queue between an agent's reactor thread and a subscription's consumer.
@Suite("Notice channel")
struct NoticeChannelTests {
    static func notice(_ sequence: UInt64) -> EventNotice {
        .event(ReceivedEvent(topic: Topic(agent: "a", event: "e")!, sequence: sequence, timestamp: 0, eventID: .none,
                             contentType: "", data: [], replayed: false))
    }

    static func sequences(_ notices: [EventNotice]) -> [UInt64] {
        notices.compactMap { if case .event(let event) = $0 { event.sequence } else { nil } }
    }

    @Test("notices come out in order, all of them, and the sequence ends after finish")
    func orderAndFinish() async {
        let channel = NoticeChannel()
        let consumer = Task {
            var seen: [EventNotice] = []
            for await notice in EventSubscription(channel: channel, onCancel: {}) { seen.append(notice) }
            return seen
        }
        for sequence in 1...10_000 { channel.send(Self.notice(UInt64(sequence))) }
        channel.finish()
        #expect(Self.sequences(await consumer.value) == Array(1...10_000))
        #expect(channel.backlog.load(ordering: .relaxed) == 0)
    }

    @Test("the backlog counts what the consumer has not taken; a finished channel drops what comes after")
    func backlog() async {
        let channel = NoticeChannel()
        for sequence in 1...3 { channel.send(Self.notice(UInt64(sequence))) }
        #expect(channel.backlog.load(ordering: .relaxed) == 3)
        var batch: [EventNotice] = []
        #expect(await channel.take(into: &batch))
        #expect(Self.sequences(batch) == [1, 2, 3])
        #expect(channel.backlog.load(ordering: .relaxed) == 0)
        channel.finish()
        channel.send(Self.notice(4))
        #expect(channel.backlog.load(ordering: .relaxed) == 0)
        #expect(await channel.take(into: &batch) == false)
    }

    @Test("cancelling a consumer waiting for notices ends its sequence")
    func cancellation() async {
        let channel = NoticeChannel()
        let consumer = Task {
            var count = 0
            for await _ in EventSubscription(channel: channel, onCancel: {}) { count += 1 }
            return count
        }
        channel.send(Self.notice(1))
        try? await Task.sleep(for: .milliseconds(50))
        consumer.cancel()
        #expect(await consumer.value == 1)
    }

    @Test("two tasks taking from one channel: each notice reaches one of them, and both end after finish")
    func twoConsumers() async {
        let channel = NoticeChannel()
        let subscription = EventSubscription(channel: channel, onCancel: {})
        let consumers = (0..<2).map { _ in
            Task {
                var seen: [UInt64] = []
                for await notice in subscription { seen += Self.sequences([notice]) }
                return seen
            }
        }
        try? await Task.sleep(for: .milliseconds(50))  // both wait
        for sequence in 1...1_000 {
            channel.send(Self.notice(UInt64(sequence)))
            if sequence % 100 == 0 { await Task.yield() }
        }
        channel.finish()
        var all: [UInt64] = []
        for consumer in consumers { all += await consumer.value }
        #expect(all.sorted() == Array(1...1_000))
    }
}

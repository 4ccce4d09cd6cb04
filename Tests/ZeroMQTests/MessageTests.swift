import Testing
import ZeroMQ

@Suite("Message", .timeLimit(.minutes(1)))
struct MessageTests {
    @Test("initialisers copy bytes, strings and raw buffers")
    func initialisers() {
        #expect(Message().count == 0)
        #expect(Message([1, 2, 3]).bytes == [1, 2, 3])
        #expect(Message("héllo").string == "héllo")
        #expect(Message("héllo").count == 6)
        let source: [UInt8] = Array(0..<100)
        let copied = source.withUnsafeBytes { Message(bytes: $0) }
        #expect(copied.bytes == source)

        let filled = Message(count: 4)
        filled.withUnsafeMutableBytes { buffer in
            for index in buffer.indices { buffer[index] = UInt8(index * 10) }
        }
        #expect(filled.bytes == [0, 10, 20, 30])
        #expect(filled.withUnsafeBytes { $0.count } == 4)
    }

    @Test("move leaves the source empty and the destination with the content")
    func moveEmptiesSource() {
        let source = Message("payload")
        let destination = Message("old content")
        destination.move(from: source)
        #expect(source.count == 0)
        #expect(destination.string == "payload")
        destination.move(from: destination)
        #expect(destination.string == "payload", "moving into itself is a no-op")
    }

    @Test("contentEquals compares size and bytes")
    func contentEquality() {
        #expect(Message("abc").contentEquals(Message("abc")))
        #expect(!Message("abc").contentEquals(Message("abd")))
        #expect(!Message("abc").contentEquals(Message("abcd")))
        #expect(Message().contentEquals(Message()))
    }

    @Test("rebuild empties a message for reuse")
    func rebuildEmpties() {
        let message = Message([UInt8](repeating: 1, count: 500))
        message.rebuild()
        #expect(message.count == 0)
        #expect(!message.hasMore)
    }

    @Test("share keeps equal content and both messages can be sent", arguments: [8, 4_096])
    func shareThenSendBoth(size: Int) throws {
        let original = Message((0..<size).map { UInt8(truncatingIfNeeded: $0) })
        let expected = original.bytes
        let shared = original.share()
        #expect(shared.contentEquals(original))
        #expect(shared.bytes == expected)

        let context = try Context()
        let pull = try makeSocket(context, .pull)
        let push = try makeSocket(context, .push)
        defer { push.close(); pull.close() }
        try pull.bind("inproc://share-\(size)")
        try push.connect("inproc://share-\(size)")

        #expect(try push.send(original))
        #expect(original.count == 0)
        #expect(shared.bytes == expected, "sending one sharer does not disturb the other")
        #expect(try push.send(shared))

        let first = try #require(try receive(pull))
        #expect(first.bytes == expected)
        let reused = Message("stale content")
        try pull.setReceiveTimeout(milliseconds: Int32(arrivalTimeout))
        #expect(try pull.receive(into: reused))
        #expect(reused.bytes == expected)
    }
}

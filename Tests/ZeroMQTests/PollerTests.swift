#if canImport(Glibc)
import Glibc
#endif
import Testing
import ZeroMQ

@Suite("Poller", .timeLimit(.minutes(1)))
struct PollerTests {
    @Test("reports a socket readable only once a message is queued, and writable when it can send")
    func socketReadiness() throws {
        let context = try Context()
        let pull = try makeSocket(context, .pull)
        let push = try makeSocket(context, .push)
        defer { push.close(); pull.close() }
        try pull.bind("inproc://poller")
        try push.connect("inproc://poller")

        var poller = Poller()
        let pullIndex = poller.add(pull)
        let pushIndex = poller.add(push, events: .writable)
        #expect(poller.count == 2)

        #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
        #expect(!poller.isReadable(pullIndex))
        #expect(poller.isWritable(pushIndex))

        try push.send("wake")
        #expect(try poller.poll(timeoutMilliseconds: arrivalTimeout) == 2)
        #expect(poller.isReadable(pullIndex))
        #expect(poller.events(pullIndex) == .readable)
        #expect(try pull.events.contains(.readable))
        #expect(try pull.receive(dontWait: true)?.string == "wake")

        // The same poller is reused: readiness clears once drained.
        #expect(try poller.poll(timeoutMilliseconds: 0) == 1)
        #expect(!poller.isReadable(pullIndex))
    }

    @Test("reports a WakeSignal readable after it is signalled, and not after it is drained")
    func wakeSignalReadiness() throws {
        let wake = try WakeSignal()
        let context = try Context()
        let pull = try makeSocket(context, .pull)
        defer { pull.close() }
        try pull.bind("inproc://poller-eventfd")

        var poller = Poller()
        let socketIndex = poller.add(pull)
        let fdIndex = poller.add(fileDescriptor: wake.fileDescriptor)
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
        #expect(!poller.isReadable(fdIndex))

        wake.signal()
        #expect(try poller.poll(timeoutMilliseconds: arrivalTimeout) == 1)
        #expect(poller.isReadable(fdIndex))
        #expect(!poller.isReadable(socketIndex))

        wake.drain()
        #expect(try poller.poll(timeoutMilliseconds: 0) == 0)
    }
}


import Foundation
import Testing
import ZeroMQ

@Suite("Context and errors", .timeLimit(.minutes(1)))
struct ContextAndErrorTests {
    @Test("ZMQError description names the errno and includes libzmq's message")
    func errorDescriptions() {
        #expect(ZMQError.wouldBlock.description.hasPrefix("EAGAIN ("))
        #expect(ZMQError.hostUnreachable.description.contains("EHOSTUNREACH"))
        #expect(ZMQError.terminated.description.contains("ETERM"))
        #expect(ZMQError.terminated.description.contains("Context was terminated"))
        #expect(ZMQError.notSupported.description.contains("ENOTSUP"))
        #expect(ZMQError(rawValue: 999_999).description.contains("999999"))
        #expect(ZMQError.wouldBlock != ZMQError.interrupted)
        #expect(ZMQError(rawValue: ZMQError.fault.rawValue) == .fault)
    }

    @Test("ZMQError.last reflects the most recent failure")
    func lastError() throws {
        let context = try Context()
        let socket = try makeSocket(context, .pull)
        defer { socket.close() }
        #expect(throws: ZMQError.self) { try socket.connect("tcp://no-port") }
        #expect(ZMQError.last == .invalidArgument)
    }

    @Test("a context without zero-copy receive delivers frames of every size intact, over tcp and ipc")
    func withoutZeroCopyReceive() throws {
        let context = try Context(zeroCopyReceive: false)
        for endpoint in ["tcp://127.0.0.1:*", uniqueIPCEndpoint()] {
            let pull = try makeSocket(context, .pull)
            let push = try makeSocket(context, .push)
            defer { push.close(); pull.close(); removeIPCFile(endpoint) }
            try pull.bind(endpoint)
            try push.connect(try pull.lastEndpoint)
            // Below and above libzmq's 33-byte inline limit, and beyond its 8 KiB read buffer.
            let frames = [0, 1, 33, 34, 100, 8_191, 8_192, 100_000].map { size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ size) } }
            for frame in frames { #expect(try push.send(frame)) }
            for frame in frames { #expect(try receive(pull)?.bytes == frame) }
        }
    }

    @Test("the linked libzmq is version 4")
    func version() {
        #expect(ZeroMQ.version.major == 4)
    }

    @Test("a context terminates once its sockets close, even with undelivered messages")
    func contextTerminatesAfterSocketsClose() throws {
        let finished = DispatchSemaphore(value: 0)
        let worker = Thread {
            do {
                let context = try Context(ioThreads: 2)
                let push = try makeSocket(context, .push)
                let pull = try makeSocket(context, .pull)
                try pull.bind("inproc://closing")
                try push.connect("inproc://closing")
                try push.connect("tcp://127.0.0.1:1") // never reachable: messages stay queued
                for _ in 0..<10 { try push.send("queued", dontWait: true) }
                push.close()
                pull.close()
            } catch {
                Issue.record("unexpected error: \(error)")
            }
            // The context deinitialises here (zmq_ctx_term).
            finished.signal()
        }
        worker.start()
        #expect(finished.wait(timeout: .now() + 10) == .success, "zmq_ctx_term hung")
    }

    @Test("shutdown wakes a blocking receive in another thread with ETERM")
    func shutdownWakesBlockedReceive() throws {
        let context = try Context()
        let outcome = Outcome()
        let finished = DispatchSemaphore(value: 0)
        let worker = Thread {
            do {
                let pull = try makeSocket(context, .pull)
                defer { pull.close() }
                try pull.bind("inproc://blocked")
                _ = try pull.receive()
                outcome.set("received")
            } catch {
                outcome.set("\(error)")
            }
            finished.signal()
        }
        worker.start()
        Thread.sleep(forTimeInterval: 0.1)
        context.shutdown()
        try #require(finished.wait(timeout: .now() + 10) == .success, "receive stayed blocked")
        #expect(outcome.value == ZMQError.terminated.description)
    }
}

/// A lock-protected string for handing a result back from a worker thread.
private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = ""
    func set(_ value: String) { lock.withLock { stored = value } }
    var value: String { lock.withLock { stored } }
}

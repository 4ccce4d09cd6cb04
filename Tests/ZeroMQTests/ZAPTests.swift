import Foundation
import Synchronization
import Testing
import ParleyWire
import ZeroMQ

/// Records every request a ZAP handler saw. Thread-safe.
private final class RequestLog: Sendable {
    private let requests = Mutex<[ZAPRequest]>([])

    func append(_ request: ZAPRequest) {
        requests.withLock { $0.append(request) }
    }

    var all: [ZAPRequest] {
        requests.withLock { $0 }
    }
}

/// Runs `work` on its own thread and waits at most `milliseconds` for it (so a hang fails the test
/// instead of hanging the run). Returns `nil` on timeout, otherwise how `work` ended.
private func outcome(within milliseconds: Int, _ work: @escaping @Sendable () throws -> Void) -> Result<Void, any Error>? {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox()
    Thread {
        let ended = Result { try work() }
        box.set(ended)
        done.signal()
    }.start()
    guard done.wait(timeout: .now() + .milliseconds(milliseconds)) == .success else { return nil }
    return box.get()
}

/// Carries a thread's result back to the test. Thread-safe.
private final class ResultBox: Sendable {
    private let value = Mutex<Result<Void, any Error>?>(nil)
    func set(_ result: Result<Void, any Error>) { value.withLock { $0 = result } }
    func get() -> Result<Void, any Error>? { value.withLock { $0 } }
}

@Suite("ZAP", .timeLimit(.minutes(1)), .enabled(if: Curve.isAvailable, "libzmq built without CURVE"))
struct ZAPTests {
    /// A CURVE server with ZAP domain "parley" on an ephemeral tcp port.
    private struct Server {
        let keys: (publicKey: String, secretKey: String)
        let router: Socket
        let endpoint: String
    }

    private func makeServer(_ context: Context) throws -> Server {
        let keys = try Curve.generateKeyPair()
        let router = try makeSocket(context, .router)
        try router.setCurveServer(true)
        try router.setCurveKeys(publicKey: keys.publicKey, secretKey: keys.secretKey)
        try router.setZAPDomain("parley")
        try router.bind("tcp://127.0.0.1:*")
        return Server(keys: keys, router: router, endpoint: try router.lastEndpoint)
    }

    /// A CURVE DEALER client with its own key pair, trusting `serverKey`, connected to `endpoint`.
    private func makeClient(
        _ context: Context, keys: (publicKey: String, secretKey: String), serverKey: String, endpoint: String
    ) throws -> Socket {
        let dealer = try makeSocket(context, .dealer)
        try dealer.setCurveKeys(publicKey: keys.publicKey, secretKey: keys.secretKey)
        try dealer.setCurveServerKey(serverKey)
        try dealer.connect(endpoint)
        return dealer
    }

    /// Admits exactly `allowedKey` as "alice", recording every request.
    private func makeHandler(_ context: Context, allowing allowedKey: String, log: RequestLog) throws -> ZAPHandler {
        try ZAPHandler(context: context) { request in
            log.append(request)
            return request.curvePublicKey == allowedKey ? .allow(userID: "alice") : .deny(reason: "unknown key")
        }
    }

    @Test("an allowed CURVE client's messages arrive with its User-Id, and the handler saw its key")
    func allowedClientCarriesUserID() throws {
        let context = try Context()
        let log = RequestLog()
        let aliceKeys = try Curve.generateKeyPair()
        let handler = try makeHandler(context, allowing: aliceKeys.publicKey, log: log)
        defer { handler.stop() }
        let server = try makeServer(context)
        let alice = try makeClient(context, keys: aliceKeys, serverKey: server.keys.publicKey, endpoint: server.endpoint)
        defer { alice.close(); server.router.close() }

        try alice.send("hello", more: true)
        try alice.send("from alice")
        let frames = try #require(try receiveMultipart(server.router))
        #expect(frames.dropFirst().map(\.string) == ["hello", "from alice"])
        // Every frame the client sent carries it; the routing-id frame the ROUTER prepends has no metadata.
        #expect(frames.dropFirst().map { $0.property("User-Id") } == ["alice", "alice"])

        let requests = log.all
        #expect(requests.count == 1)
        let request = try #require(requests.first)
        #expect(request.mechanism == "CURVE")
        #expect(request.domain == "parley")
        #expect(request.address == "127.0.0.1")
        #expect(request.curvePublicKey == aliceKeys.publicKey)
        #expect(request.credentials.first.map { Z85.encode($0) } == aliceKeys.publicKey)

        // The reply path works too: the server answers through the routing id.
        try server.router.send(frames[0], more: true)
        try server.router.send("hi alice")
        #expect(try receiveMultipart(alice)?.map(\.string) == ["hi alice"])
    }

    @Test("a client with another valid key pair is denied, while the allowed one still gets through")
    func unknownKeyIsDenied() throws {
        let context = try Context()
        let log = RequestLog()
        let aliceKeys = try Curve.generateKeyPair()
        let malloryKeys = try Curve.generateKeyPair()
        let handler = try makeHandler(context, allowing: aliceKeys.publicKey, log: log)
        defer { handler.stop() }
        let server = try makeServer(context)
        let mallory = try makeClient(context, keys: malloryKeys, serverKey: server.keys.publicKey, endpoint: server.endpoint)
        defer { mallory.close(); server.router.close() }

        try mallory.send("let me in", dontWait: true)
        #expect(try receiveMultipart(server.router, timeoutMilliseconds: silenceTimeout) == nil)
        #expect(log.all.contains { $0.curvePublicKey == malloryKeys.publicKey }, "the denial came from the handler")

        // Same server, same handler: the allowed key is admitted (so the silence above was the denial).
        let alice = try makeClient(context, keys: aliceKeys, serverKey: server.keys.publicKey, endpoint: server.endpoint)
        defer { alice.close() }
        try alice.send("hello")
        let frames = try #require(try receiveMultipart(server.router))
        #expect(frames.last?.string == "hello")
        #expect(frames.last?.property("User-Id") == "alice")
    }

    @Test("a client that trusts the wrong server key never authenticates and gets nothing through")
    func wrongServerKeyIsNotAuthenticated() throws {
        let context = try Context()
        let log = RequestLog()
        let aliceKeys = try Curve.generateKeyPair()
        let handler = try makeHandler(context, allowing: aliceKeys.publicKey, log: log)
        defer { handler.stop() }
        let server = try makeServer(context)
        let impostorServerKey = try Curve.generateKeyPair().publicKey
        let confused = try makeClient(context, keys: aliceKeys, serverKey: impostorServerKey, endpoint: server.endpoint)
        defer { confused.close(); server.router.close() }

        try confused.send("hello", dontWait: true)
        #expect(try receiveMultipart(server.router, timeoutMilliseconds: silenceTimeout) == nil)
        #expect(log.all.isEmpty, "the handshake fails before any ZAP request")
    }

    @Test("stop() returns, is idempotent, frees the ZAP endpoint, and the context then terminates")
    func stopEndsTheThread() throws {
        let ended = outcome(within: 10_000) {
            let context = try Context()
            let handler = try ZAPHandler(context: context) { _ in .deny(reason: "nobody") }
            handler.stop()
            handler.stop()
            // The endpoint is free again: a new handler binds it, and is stopped from two threads at once.
            let second = try ZAPHandler(context: context) { _ in .allow(userID: "x") }
            let concurrent = Thread { second.stop() }
            concurrent.start()
            second.stop()
            second.stop()
            // `context` is released here: zmq_ctx_term returns only once every socket is closed.
        }
        let result = try #require(ended, "stopping the handler lets the context terminate")
        try result.get()
    }

    @Test("a second handler on the same context is refused while the first runs")
    func oneHandlerPerContext() throws {
        let context = try Context()
        let handler = try ZAPHandler(context: context) { _ in .deny(reason: "nobody") }
        defer { handler.stop() }
        #expect(throws: ZMQError.addressInUse) {
            _ = try ZAPHandler(context: context) { _ in .deny(reason: "second") }
        }
    }

    @Test("shutting the context down ends the handler's thread without stop()")
    func contextShutdownEndsTheThread() throws {
        let ended = outcome(within: 10_000) {
            let context = try Context()
            let handler = try ZAPHandler(context: context) { _ in .deny(reason: "nobody") }
            context.shutdown()
            handler.stop() // returns because the thread ends on ETERM
        }
        let result = try #require(ended, "the handler's thread ended and the context terminated")
        try result.get()
    }

    @Test("malformed and foreign-version requests get 400 or are dropped, and the handler keeps serving")
    func malformedRequests() throws {
        let context = try Context()
        let log = RequestLog()
        let handler = try ZAPHandler(context: context) { request in
            log.append(request)
            return request.mechanism == "NULL" ? .allow(userID: "anonymous") : .deny(reason: "no thanks")
        }
        defer { handler.stop() }
        let client = try makeSocket(context, .dealer)
        defer { client.close() }
        try client.connect(ZAPHandler.endpoint)

        func exchange(_ frames: [String]) throws -> [String]? {
            for (index, frame) in frames.enumerated() {
                try client.send(frame, more: index < frames.count - 1)
            }
            return try receiveMultipart(client)?.map(\.string)
        }

        #expect(try exchange(["", "2.0", "7", "parley", "127.0.0.1", "", "NULL"])
            == ["", "1.0", "7", "400", "unsupported version", "", ""])
        #expect(try exchange(["", "1.0", "8", "parley"]) == ["", "1.0", "8", "400", "malformed request", "", ""])
        #expect(try exchange([""]) == ["", "1.0", "", "400", "unsupported version", "", ""])
        // No envelope delimiter: nothing to address a reply to, so it is dropped.
        try client.send("no delimiter", more: true)
        try client.send("1.0")
        #expect(try receiveMultipart(client, timeoutMilliseconds: silenceTimeout / 4) == nil)

        #expect(try exchange(["", "1.0", "9", "parley", "10.0.0.1", "me", "NULL"])
            == ["", "1.0", "9", "200", "OK", "anonymous", ""])
        #expect(try exchange(["", "1.0", "10", "parley", "10.0.0.1", "", "PLAIN", "user", "password"])
            == ["", "1.0", "10", "400", "no thanks", "", ""])
        let requests = log.all
        #expect(requests == [
            ZAPRequest(domain: "parley", address: "10.0.0.1", mechanism: "NULL", credentials: [], identity: Array("me".utf8)),
            ZAPRequest(domain: "parley", address: "10.0.0.1", mechanism: "PLAIN",
                       credentials: [Array("user".utf8), Array("password".utf8)]),
        ])
        #expect(requests.allSatisfy { $0.curvePublicKey == nil })
    }

    @Test("Z85 (ParleyWire) round-trips 32 bytes to 40 characters, matches the RFC 32 example and libzmq's keys")
    func z85RoundTrip() throws {
        let bytes = (0 ..< 32).map { _ in UInt8.random(in: 0 ... 255) }
        let text = try #require(Z85.encode(bytes))
        #expect(text.utf8.count == 40)
        #expect(Z85.decode(text) == bytes)

        #expect(Z85.encode([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]) == "HelloWorld")
        #expect(Z85.decode("HelloWorld") == [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B])
        let key = try Curve.generateKeyPair().publicKey
        #expect(Z85.decode(key).flatMap { Z85.encode($0) } == key)
        #expect(Z85.decode(key)?.count == 32)
        #expect(Z85.encode([]) == "")
        #expect(Z85.decode("") == [])
        #expect(Z85.decode("Hell\0") == nil, "an embedded NUL must not shorten the text libzmq sees")
    }

    @Test("Z85 rejects bad lengths, characters outside the alphabet and overflowing groups",
          arguments: ["abcd", "HelloWorl", "Hell~", "Hello Worl", "Hell\"", "%%%%%", "héllo", "Hell\\"])
    func z85RejectsInvalidText(text: String) {
        #expect(Z85.decode(text) == nil)
    }

    @Test("Z85 encoding needs a multiple of 4 bytes", arguments: [1, 3, 5, 31, 33])
    func z85RejectsBadByteCounts(count: Int) {
        #expect(Z85.encode([UInt8](repeating: 7, count: count)) == nil)
    }
}

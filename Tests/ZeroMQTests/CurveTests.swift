import Testing
import ZeroMQ

@Suite("Curve", .timeLimit(.minutes(1)), .enabled(if: Curve.isAvailable, "libzmq built without CURVE"))
struct CurveTests {
    @Test("key pairs are 40-character Z85 and the public key derives from the secret")
    func keyPair() throws {
        let pair = try Curve.generateKeyPair()
        #expect(pair.publicKey.utf8.count == 40)
        #expect(pair.secretKey.utf8.count == 40)
        #expect(pair.publicKey != pair.secretKey)
        #expect(try Curve.publicKey(fromSecret: pair.secretKey) == pair.publicKey)
        #expect(try Curve.generateKeyPair().publicKey != pair.publicKey)
        #expect(throws: ZMQError.invalidArgument) { try Curve.publicKey(fromSecret: "too short") }
    }

    /// Builds a CURVE ROUTER server and a DEALER client that trusts `trustedServerKey` (the real key when nil).
    private func exchange(trustedServerKey: String?) throws -> (request: [Message]?, reply: [Message]?) {
        let server = try Curve.generateKeyPair()
        let client = try Curve.generateKeyPair()
        let context = try Context()
        let router = try makeSocket(context, .router)
        let dealer = try makeSocket(context, .dealer)
        defer { dealer.close(); router.close() }

        try router.setCurveServer(true)
        try router.setCurveKeys(publicKey: server.publicKey, secretKey: server.secretKey)
        try router.bind("tcp://127.0.0.1:*")

        try dealer.setCurveServerKey(trustedServerKey ?? server.publicKey)
        try dealer.setCurveKeys(publicKey: client.publicKey, secretKey: client.secretKey)
        try dealer.connect(try router.lastEndpoint)
        try dealer.send("secret hello")

        let timeout = trustedServerKey == nil ? arrivalTimeout : silenceTimeout
        guard let request = try receiveMultipart(router, timeoutMilliseconds: timeout) else { return (nil, nil) }
        try router.send(request[0], more: true)
        try router.send("secret reply")
        return (request, try receiveMultipart(dealer))
    }

    @Test("a client with the right server key talks to a CURVE server")
    func rightServerKey() throws {
        let result = try exchange(trustedServerKey: nil)
        let request = try #require(result.request)
        #expect(request.count == 2)
        #expect(request.last?.string == "secret hello")
        #expect(result.reply?.map(\.string) == ["secret reply"])
    }

    @Test("a client with a wrong server key gets nothing through")
    func wrongServerKey() throws {
        let result = try exchange(trustedServerKey: try Curve.generateKeyPair().publicKey)
        #expect(result.request == nil)
    }

    @Test("malformed keys are rejected")
    func malformedKeys() throws {
        let context = try Context()
        let socket = try makeSocket(context, .dealer)
        defer { socket.close() }
        #expect(throws: ZMQError.invalidArgument) { try socket.setCurveServerKey("not a key") }
    }
}

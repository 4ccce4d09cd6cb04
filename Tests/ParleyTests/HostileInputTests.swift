import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Hostile input")
    struct HostileInputTests {
        /// What a refusal looks like to the sender.
        struct Refusal {
            var status: Status
            var callbackID: CallbackID?
            var reason: String
        }

        private func refusal(_ agent: RawAgent) async throws -> Refusal? {
            guard let (header, body) = try await agent.next(timeout: .seconds(5)) else { return nil }
            let reason = String(decoding: body, as: UTF8.self)
            switch header {
            case .error(let notice): return Refusal(status: notice.status, callbackID: nil, reason: reason)
            case .result(let result): return Refusal(status: result.status, callbackID: result.callbackID, reason: reason)
            default: return nil
            }
        }

        @Test("malformed frames get BAD_REQUEST naming the problem, and a well-behaved agent keeps being served")
        func malformedFrames() async throws {
            let broker = try await BrokerProcess(["--max-body", "1048576", "--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let helper = try await connectedAgent("helper", broker: broker, handler: EchoRecorder().handler())
            let asker = try await connectedAgent("asker", broker: broker)
            let hostile = try RawAgent(endpoint: broker.endpoint)
            defer { hostile.close() }
            #expect(try await hostile.register(id: "mallory", layer: "domain")?.code == .welcome)
            defer { Task { await asker.close(); await helper.close() } }

            var generator = SystemRandomNumberGenerator()
            let valid = HeaderEncoder.encode(.request(Request(callbackID: .random(), kind: .help, timeoutMilliseconds: 1_000,
                                                              target: .agent("helper"), contentType: "text/plain")))
            let cases: [(String, [[UInt8]], String)] = [
                ("random bytes", [(0..<64).map { _ in UInt8.random(in: 0...255, using: &generator) } + [0x00]], ""),
                ("an empty frame", [[]], "too short"),
                ("a wrong version", [[0x50, 0x02, 0x03]], "version"),
                ("a truncated header", [Array(valid.prefix(12))], "truncated"),
                ("an unknown command", [[0x50, 0x01, 0x7F]], "unknown command"),
                ("a broker-only command", [HeaderEncoder.encode(.welcome(Welcome(heartbeatMilliseconds: 1, liveness: 1, maxBodyBytes: 1)))], "sent by the broker"),
            ]
            for (what, frames, expected) in cases {
                try await hostile.send(frames)
                let answer = try #require(try await refusal(hostile), "no answer to \(what)")
                #expect(answer.status == .badRequest, "\(what)")
                #expect(expected.isEmpty || answer.reason.contains(expected), "\(what): \(answer.reason)")
                #expect(await asker.send(.help, to: .agent("helper"), body: Array(what.utf8)).text == what)
            }
        }

        @Test("a request with a bad target ends with RESULT BAD_REQUEST for its callback id")
        func badTarget() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let hostile = try RawAgent(endpoint: broker.endpoint)
            defer { hostile.close() }
            #expect(try await hostile.register(id: "mallory", layer: "domain")?.code == .welcome)
            let callbackID = CallbackID.random()
            var header = HeaderEncoder.encode(.request(Request(callbackID: callbackID, kind: .help, timeoutMilliseconds: 1_000,
                                                               target: .agent("x"), contentType: "")))
            // Rewrite the target "agent:x" as "bogus:x" (same length + 1 is not needed: patch the scheme in place).
            let targetStart = 3 + 16 + 1 + 4 + 1
            header.replaceSubrange(targetStart..<(targetStart + 6), with: Array("bogus:".utf8))
            try await hostile.send([header])
            let answer = try #require(try await refusal(hostile))
            #expect(answer.status == .badRequest)
            #expect(answer.callbackID == callbackID)
            #expect(answer.reason.contains("target"))
        }

        @Test("oversize bodies and frame floods are refused; a 10 MB frame only drops that connection")
        func oversizeAndFloods() async throws {
            let broker = try await BrokerProcess(["--max-body", "1048576", "--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let helper = try await connectedAgent("helper", broker: broker, handler: EchoRecorder().handler())
            let asker = try await connectedAgent("asker", broker: broker)
            let hostile = try RawAgent(endpoint: broker.endpoint)
            defer { hostile.close() }
            #expect(try await hostile.register(id: "mallory", layer: "domain")?.code == .welcome)
            let callbackID = CallbackID.random()
            let request = HeaderEncoder.encode(.request(Request(callbackID: callbackID, kind: .help, timeoutMilliseconds: 5_000,
                                                                target: .agent("helper"), contentType: "")))

            try await hostile.send([request, [UInt8](repeating: 7, count: 1_500_000)])
            let tooBig = try #require(try await refusal(hostile))
            #expect(tooBig.status == .badRequest && tooBig.callbackID == callbackID)
            #expect(tooBig.reason.contains("exceeds the limit"))

            try await hostile.send([request] + Array(repeating: [UInt8(1)], count: 9_999))
            let flood = try #require(try await refusal(hostile))
            #expect(flood.status == .badRequest)
            #expect(flood.reason.contains("too many frames: 10000"))

            let dropped = try RawAgent(endpoint: broker.endpoint)
            defer { dropped.close() }
            #expect(try await dropped.register(id: "bulldozer", layer: "domain")?.code == .welcome)
            try await dropped.send([request, [UInt8](repeating: 9, count: 10 * 1_048_576)])
            #expect(try await dropped.next(timeout: .seconds(2)) == nil, "the connection is dropped, nothing comes back")

            #expect(await asker.send(.help, to: .agent("helper"), body: Array("fine".utf8)).text == "fine")
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint)
            #expect(status.malformed >= 2)
            #expect(status.outcomes["OK"] == 1)
            await asker.close()
            await helper.close()
        }

        @Test("a peer that never registered is told to say HELLO, and its request ends UNAVAILABLE")
        func unregisteredPeer() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let stranger = try RawAgent(endpoint: broker.endpoint)
            defer { stranger.close() }
            let callbackID = CallbackID.random()
            try await stranger.send(.request(Request(callbackID: callbackID, kind: .help, timeoutMilliseconds: 1_000,
                                                     target: .agent("anyone"), contentType: "")))
            let result = try #require(try await stranger.next())
            #expect(result.header == .result(ResultHeader(callbackID: callbackID, status: .unavailable, attempts: 0)))
            #expect(try await stranger.next()?.header == .bye)
        }
    }
}

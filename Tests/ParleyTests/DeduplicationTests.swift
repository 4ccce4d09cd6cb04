import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("De-duplication")
    struct DeduplicationTests {
        @Test("the same callback id sent 5 times runs the handler once and gets one outcome; a later retry gets it again")
        func fiveRetries() async throws {
            let broker = try await BrokerProcess(["--heartbeat-ms", "1000", "--liveness", "30"])
            defer { broker.stop() }
            let recorder = EchoRecorder()
            let helper = try await connectedAgent("helper", broker: broker, handler: recorder.handler(delay: .milliseconds(500)))
            let requester = try RawAgent(endpoint: broker.endpoint)
            defer { requester.close() }
            #expect(try await requester.register(id: "asker", layer: "domain")?.code == .welcome)
            let callbackID = CallbackID.random()
            let request = Header.request(Request(callbackID: callbackID, kind: .help, timeoutMilliseconds: 10_000,
                                                 target: .agent("helper"), contentType: "text/plain"))
            for _ in 0..<5 { try await requester.send(request, body: Array("same".utf8)) }
            let first = try #require(try await requester.next())
            #expect(first.header == .result(ResultHeader(callbackID: callbackID, status: .ok, attempts: 1)))
            #expect(first.body == Array("same".utf8))
            #expect(try await requester.next(timeout: .seconds(1)) == nil, "exactly one outcome")
            #expect(recorder.calls == 1)

            try await requester.send(request, body: Array("same".utf8))
            let cached = try #require(try await requester.next())
            #expect(cached.header == first.header && cached.body == first.body)
            #expect(recorder.calls == 1)

            try await requester.send(request, body: Array("different".utf8))
            let refused = try #require(try await requester.next())
            guard case .error(let notice) = refused.header else { Issue.record("expected ERROR, got \(refused.header)"); return }
            #expect(notice.status == .badRequest && notice.callbackID == callbackID)
            #expect(String(decoding: refused.body, as: UTF8.self).contains("different payload"))
            #expect(try await BrokerStatus.fetch(endpoint: broker.endpoint).dedupeHits == 5)
            await helper.close()
        }
    }
}

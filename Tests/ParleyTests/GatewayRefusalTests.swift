import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    /// How the gateway answers input it does not route (PROTOCOL.md §8.2), byte by byte.
    @Suite("Gateway refusals")
    struct GatewayRefusalTests {
        private func gateway(_ folder: TemporaryFolder, _ broker: BrokerProcess) async throws -> GatewayProcess {
            try await GatewayProcess(broker: broker, in: folder)
        }

        /// Runs `body` with a caller at a fresh gateway, first unregistered, then after its HELLO.
        private func beforeAndAfterHello(_ body: (RawAgent, Bool) async throws -> Void) async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await gateway(folder, broker)
            defer { gateway.stop() }
            let agent = try RawAgent(endpoint: gateway.endpoint)
            defer { agent.close() }
            for registered in [false, true] {
                if registered { try await agent.register(id: "orders", layer: "domain") }
                try await body(agent, registered)
            }
        }

        /// The ERROR that answers `frames`.
        private func error(answering frames: [[UInt8]], from agent: RawAgent) async throws -> (notice: ErrorNotice, text: String) {
            try await agent.send(frames)
            let reply = try #require(try await agent.next())
            guard case .error(let notice) = reply.header else { throw TestFailure("expected ERROR, got \(reply.header)") }
            return (notice, String(decoding: reply.body, as: UTF8.self))
        }

        @Test("a caller id is refused while its holder is connected, and taken at once by a restart once the holder's connection is gone without BYE")
        func callerIDAfterHolderGone() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            // Heartbeats a minute apart: only the probe of the HELLO can notice the holder is gone within the test.
            let gateway = try await GatewayProcess(broker: broker, in: folder, arguments: ["--heartbeat-ms", "60000"])
            defer { gateway.stop() }
            let holder = try RawAgent(endpoint: gateway.endpoint)
            #expect(try await holder.register(id: "orders", layer: "domain", instance: 1)?.code == .welcome)
            let impostor = try RawAgent(endpoint: gateway.endpoint)
            defer { impostor.close() }
            #expect(try await impostor.register(id: "orders", layer: "domain", instance: 2)?.code == .error)
            holder.close()  // as a killed process: no BYE, the connection closes
            let restarted = try RawAgent(endpoint: gateway.endpoint)
            defer { restarted.close() }
            // The gateway's I/O thread notices the closed connection a moment later; a HELLO that arrives first is
            // refused (the SDK retries), so try for up to 2 s: far less than the minute the heartbeat would take.
            let started = ContinuousClock.now
            var answer = try await restarted.register(id: "orders", layer: "domain", instance: 2)
            while answer?.code != .welcome, ContinuousClock.now - started < .seconds(2) {
                try await Task.sleep(for: .milliseconds(100))
                answer = try await restarted.register(id: "orders", layer: "domain", instance: 2)
            }
            #expect(answer?.code == .welcome, "the id was not taken over within 2 s of the holder's connection closing")
        }

        @Test("ERROR's command byte is the refused header's third byte: 0 for a 2-byte header, the unknown code itself")
        func commandByteOfRefusedHeaders() async throws {
            try await beforeAndAfterHello { agent, _ in
                let short = try await error(answering: [[0x50, 0x01]], from: agent)
                #expect(short.notice == ErrorNotice(status: .badRequest, command: 0x00, callbackID: .none))
                #expect(short.text == "header too short: 2 bytes, at least 3 needed")
                let unknown = try await error(answering: [[0x50, 0x01, 0x4f]], from: agent)
                #expect(unknown.notice == ErrorNotice(status: .badRequest, command: 0x4f, callbackID: .none))
                #expect(unknown.text == "unknown command 0x4f")
            }
        }

        @Test("STATUS is answered STATUS_REPLY with the gateway's JSON document, before HELLO and after it")
        func statusBeforeAndAfterHello() async throws {
            try await beforeAndAfterHello { agent, registered in
                try await agent.send(.status)
                let reply = try #require(try await agent.next())
                #expect(reply.header == .statusReply)
                let document = try #require(try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])
                #expect(document["role"] as? String == "gateway")
                #expect(Set(document.keys) == ["role", "broker", "draining", "callers", "forwards", "rules"])
                #expect(document["callers"] as? Int == (registered ? 1 : 0))
            }
        }

        @Test("a malformed retry of a call in flight gets ERROR naming the call, and the call keeps its one RESULT")
        func malformedRetryInFlight() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await gateway(folder, broker)
            defer { gateway.stop() }
            let store = try await connectedAgent("store", layer: "infrastructure", capabilities: ["persistence"], broker: broker) { _ in
                try await Task.sleep(for: .seconds(1))
                return .answer(bytes: Array("\"stored\"".utf8))
            }
            let orders = try await RawAgent.caller(gateway)
            defer { orders.close() }
            let id = CallbackID.random()
            let request = HeaderEncoder.encode(.request(Request(callbackID: id, kind: .call, timeoutMilliseconds: 30_000,
                                                                target: .layer("infrastructure", capability: "persistence"),
                                                                contentType: "application/json")))
            try await orders.send([request, Array("{}".utf8)])
            let retry = try await error(answering: [request + [0x00], Array("{}".utf8)], from: orders)
            #expect(retry.notice == ErrorNotice(status: .badRequest, command: CommandCode.request.rawValue, callbackID: id))
            #expect(retry.text.contains("unexpected byte"), "\(retry.text)")
            let outcome = try #require(try await orders.nextResult())
            #expect(outcome.result.callbackID == id)
            #expect(outcome.result.status == .ok)
            #expect(try await orders.next(timeout: .milliseconds(500)) == nil, "no second outcome")
            await store.close()
        }
    }
}

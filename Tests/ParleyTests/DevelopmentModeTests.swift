import Foundation
import Parley
import ParleyOperations
import ParleyWire
import Testing

extension BrokerIntegration {
    /// Development mode is unauthenticated by design, but the policy a gateway enforces must not be bypassable by
    /// a second "gateway" nobody started (issue 12, finding 5).
    @Suite("Development mode")
    struct DevelopmentModeTests {
        @Test("the broker's gateway token is random per start, in a file only its user can read, removed at exit")
        func randomTokenFile() async throws {
            let first = try await BrokerProcess()
            let second = try await BrokerProcess()
            defer { second.stop() }
            let firstFile = GatewayTokenFile(brokerEndpoint: first.endpoint)
            let firstToken = try #require(firstFile.read())
            let secondToken = try #require(GatewayTokenFile(brokerEndpoint: second.endpoint).read())
            #expect(firstToken.count == 32 && firstToken.allSatisfy(\.isHexDigit))
            #expect(firstToken != secondToken)
            let attributes = try FileManager.default.attributesOfItem(atPath: firstFile.path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            let directory = (firstFile.path as NSString).deletingLastPathComponent
            #expect((try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int) == 0o700)
            #expect(await first.child.stop() == 0)
            #expect(!FileManager.default.fileExists(atPath: firstFile.path), "the token file outlived its broker")
        }

        @Test("a gateway needs the broker's token and a configured gateway id, and no agent may take the id 'gateway'")
        func secondGatewayRefused() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let token = try #require(GatewayTokenFile(brokerEndpoint: broker.endpoint).read())

            let squatter = try RawAgent(endpoint: broker.endpoint)
            defer { squatter.close() }
            try await squatter.send(.hello(Hello(instance: 1, agentID: "gateway", layer: "domain", capabilities: [])))
            try await expectRefusal(squatter, command: .hello, reason: "id 'gateway' is reserved for gateways; choose another id")

            let oldDefault = try RawAgent(endpoint: broker.endpoint)
            defer { oldDefault.close() }
            try await oldDefault.send(.gatewayHello(GatewayHello(instance: 2, gatewayID: "gateway", token: "parley-dev-gateway")))
            try await expectRefusal(oldDefault, command: .gatewayHello, reason: "wrong gateway token")

            let rogue = try RawAgent(endpoint: broker.endpoint)
            defer { rogue.close() }
            try await rogue.send(.gatewayHello(GatewayHello(instance: 3, gatewayID: "rogue", token: token)))
            try await expectRefusal(rogue, command: .gatewayHello, reason: "gateway id 'rogue' is not one of this broker's gateway-ids (gateway)")

            // The gateway started beside the broker finds the token by itself and registers.
            let folder = try TemporaryFolder()
            let gateway = try await GatewayProcess(broker: broker, in: folder)
            defer { gateway.stop() }
            try await waitUntil("the gateway registered") {
                let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
                return status.agents.contains { $0.id == "gateway" && $0.state == "alive" }
            }
        }

        private func expectRefusal(_ peer: RawAgent, command: CommandCode, reason: String,
                                   sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let answer = try #require(try await peer.next(), sourceLocation: sourceLocation)
            #expect(answer.header == .error(ErrorNotice(status: .unauthorized, command: command.rawValue)), sourceLocation: sourceLocation)
            #expect(String(decoding: answer.body, as: UTF8.self) == reason, sourceLocation: sourceLocation)
        }
    }
}

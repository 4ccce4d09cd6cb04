import Foundation
import Subprocess
import Testing

extension BrokerIntegration {
    @Suite("deploy/ configuration files")
    struct DeployConfigurationTests {
        @Test("deploy/broker.yaml and deploy/gateway.yaml set every setting their program knows", arguments: ["broker", "gateway"])
        func everySetting(program: String) async throws {
            let file = OperationsTests.deploy + "/\(program).yaml"
            let printed = try await runToExit("parley-\(program)", ["--config", file, "--print-config"])
            #expect(printed.status == 0, "\(printed.errors)")
            let settings = printed.output.split(separator: "\n").filter { !$0.hasPrefix("#") }
            #expect(settings.count > 10)
            let missing = settings.filter { !$0.contains("# file \(file):") }.map { $0.prefix { $0 != ":" } }
            #expect(missing.isEmpty, "\(file) misses \(missing)")
        }

        @Test("deploy/keys.example.yaml names its gateway with the gateway's default id")
        func exampleGatewayID() async throws {
            let printed = try await runToExit("parley-gateway", ["--print-config"])
            let line = try #require(printed.output.split(separator: "\n").first { $0.hasPrefix("gateway-id: ") })
            let id = line.dropFirst("gateway-id: ".count).prefix { $0 != " " }.filter { $0 != "\"" }
            let example = try String(contentsOfFile: OperationsTests.deploy + "/keys.example.yaml", encoding: .utf8)
            #expect(example.contains("  - id: \(id)\n    role: gateway\n"), "gateway-id \(id)")
        }

        @Test("deploy/Dockerfile builds with the Swift the tests run with, and checks the broker's health with parley health")
        func dockerfile() async throws {
            let dockerfile = try String(contentsOfFile: OperationsTests.deploy + "/Dockerfile", encoding: .utf8)
            let image = try #require(dockerfile.split(separator: "\n").first { $0.hasPrefix("ARG SWIFT_IMAGE=swift:") })
            let imageVersion = image.dropFirst("ARG SWIFT_IMAGE=swift:".count).prefix { $0 != "-" }
            let version = try await runTool(.name("swift"), ["--version"], standardError: true).output
            #expect(version.contains("Swift version \(imageVersion) ") || version.contains("Swift version \(imageVersion)-"),
                    "the image's Swift \(imageVersion), the tests': \(version.prefix(80))")
            #expect(dockerfile.contains(#"CMD ["parley", "health", "--broker", "tcp://127.0.0.1:7410""#), "a HEALTHCHECK using parley health")
        }
    }
}

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
    }
}

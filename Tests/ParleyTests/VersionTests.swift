import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Versions: --version and parley_build_info")
    struct VersionTests {
        @Test("every executable prints ParleyVersion.current for --version and exits 0", arguments: ["parley-broker", "parley-gateway", "parley"])
        func versionFlag(executable: String) async throws {
            let result = try await runToExit(executable, ["--version"], standardError: true)
            #expect(result.status == 0)
            #expect(result.output == ParleyVersion.current + "\n")
        }

        @Test("/metrics labels parley_build_info with the program and ParleyVersion.current")
        func buildInfo() async throws {
            let port = try freePort()
            let broker = try await BrokerProcess(["--metrics-port", "\(port)"])
            defer { broker.stop() }
            let metrics = try await scrape("http://127.0.0.1:\(port)/metrics")
            #expect(metrics.value(#"parley_build_info{program="parley-broker",version="\#(ParleyVersion.current)"}"#) == 1, "\(metrics.body)")
        }
    }
}

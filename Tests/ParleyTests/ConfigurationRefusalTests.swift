import Testing

extension BrokerIntegration {
    @Suite("Configuration refusals: standard error, real places")
    struct ConfigurationRefusalTests {
        @Test("a refused configuration is one line on standard error, none on standard output, also with --print-config")
        func refusalOnStandardError() async throws {
            let folder = try TemporaryFolder()
            let config = try folder.write("broker.yaml", "max-body: 1mb\n")
            let refused = try await runToExit("parley-broker", ["--config", config, "--print-config"])
            #expect(refused.status == 78)
            #expect(refused.output.isEmpty, "\(refused.output)")
            #expect(refused.errors.hasPrefix("parley-broker: \(config):1: max-body must be a byte count"), "\(refused.errors)")
        }

        @Test("deliveries that would fill an agent's queue are refused, naming the setting and where it came from")
        func deliveriesOverHalfTheQueue() async throws {
            let refused = try await runToExit("parley-broker", ["--peer-queue-bytes", "4MiB", "--print-config"])
            #expect(refused.status == 78)
            #expect(refused.errors == "parley-broker: --peer-queue-bytes: max-delivery-bytes-per-agent (4194304) is more than half of "
                    + "peer-queue-bytes (4194304): an agent's deliveries would fill its queue; lower max-delivery-bytes-per-agent too\n",
                    "\(refused.errors)")
            let accepted = try await runToExit("parley-broker", ["--peer-queue-bytes", "4MiB", "--max-delivery-bytes-per-agent", "2MiB", "--print-config"])
            #expect(accepted.status == 0, "\(accepted.errors)")
        }

        @Test("a missing config file is reported at --config; a missing policy file at the line that names it")
        func missingFiles() async throws {
            let folder = try TemporaryFolder()
            let absent = folder.path + "/absent.yaml"
            let noConfig = try await runToExit("parley-broker", ["--config", absent])
            #expect(noConfig.status == 78)
            #expect(noConfig.errors == "parley-broker: --config: cannot read the config file \(absent): No such file or directory\n")

            let config = try folder.write("gateway.yaml", "# a gateway\npolicy: absent.yaml\n")
            let noPolicy = try await runToExit("parley-gateway", ["--config", config, "--endpoint", "tcp://127.0.0.1:*"])
            #expect(noPolicy.status == 78)
            #expect(noPolicy.errors.hasSuffix("parley-gateway: \(config):2: policy: \(absent): cannot read the file: No such file or directory\n"),
                    "\(noPolicy.errors)")
        }

        @Test("byte counts take decimal and binary units: 1MB is 1,000,000 bytes, 1MiB 1,048,576")
        func byteUnits() async throws {
            let printed = try await runToExit("parley-broker", ["--print-config", "--max-body", "1MB", "--retention-bytes", "1MiB"])
            #expect(printed.status == 0, "\(printed.errors)")
            let lines = printed.output.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("max-body: 1000000 ") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("retention-bytes: 1048576 ") }, "\(lines)")
        }
    }
}

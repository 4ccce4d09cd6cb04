import ArgumentParser
import Parley

/// `parley health`: an exit code for systemd and container health checks.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 when the broker answers STATUS in time, 1 when it does not.",
        discussion: "Prints one line either way; meant for health checks (systemd, containers, load balancers)."
    )

    @OptionGroup var connection: BrokerOptions

    @Option(name: .customLong("timeout-ms"), help: "How long to wait for the broker.")
    var timeoutMilliseconds = 2_000

    func run() async throws {
        do {
            let snapshot = try await BrokerStatus.fetch(endpoint: connection.broker, timeout: .milliseconds(timeoutMilliseconds))
            print("healthy: broker at \(connection.broker), \(snapshot.agents.count) agent(s), \(snapshot.pending) pending")
        } catch {
            print("unhealthy: broker at \(connection.broker): \(error)")
            throw ExitCode.failure
        }
    }
}

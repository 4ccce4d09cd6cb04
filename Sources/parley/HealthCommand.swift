import ArgumentParser
import Parley

/// `parley health`: an exit code for systemd and container health checks.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 when the broker (or, with --gateway, a gateway) answers STATUS in time, 1 when it does not.",
        discussion: """
            Prints one line either way; meant for health checks (systemd, containers, load balancers). A gateway is \
            healthy when it answers and the broker has welcomed it (it can forward calls) and it is not shutting down.
            """
    )

    @OptionGroup var connection: BrokerOptions

    @Option(name: .customLong("timeout-ms"), help: "How long to wait for an answer.")
    var timeoutMilliseconds = 2_000

    func run() async throws {
        if let gateway = connection.gatewayOption { return try await checkGateway(gateway) }
        do {
            let snapshot = try await BrokerStatus.fetch(endpoint: connection.broker, curve: connection.brokerCurve(),
                                                        timeout: .milliseconds(timeoutMilliseconds))
            print("healthy: broker at \(connection.broker), \(snapshot.agents.count) agent(s), \(snapshot.pending) pending")
        } catch {
            print("unhealthy: broker at \(connection.broker): \(error)")
            throw ExitCode.failure
        }
    }

    private func checkGateway(_ endpoint: String) async throws {
        let report: GatewayStatus.Report
        do {
            report = try await GatewayStatus.fetch(endpoint: endpoint, curve: connection.gatewayCurve(), timeoutMilliseconds: timeoutMilliseconds)
        } catch {
            print("unhealthy: gateway at \(endpoint): \(error)")
            throw ExitCode.failure
        }
        guard report.broker == "connected", !report.draining else {
            print("unhealthy: gateway at \(endpoint): " + (report.draining ? "shutting down" : "not registered with the broker (broker down or refusing it)"))
            throw ExitCode.failure
        }
        print("healthy: gateway at \(endpoint), broker connected, \(report.callers) caller(s), \(report.forwards) call(s) in flight, \(report.rules) rule(s)")
    }
}

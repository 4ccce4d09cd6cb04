import ArgumentParser
import Parley

/// `parley status`: the broker's agents, pending requests and outcome counts.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print the broker's agents, pending requests and outcome counts.",
        discussion: "Exits 1 when the broker does not answer."
    )

    @OptionGroup var connection: BrokerOptions

    @Option(name: .customLong("timeout-ms"), help: "How long to wait for the broker.")
    var timeoutMilliseconds = 3_000

    @Option(help: "text, or json: the broker's STATUS object on one line (its fields: docs/PROTOCOL.md §6.12).")
    var output = OutputFormat.text

    func run() async throws {
        try await connection.requireBroker()
        let snapshot: BrokerSnapshot
        do {
            snapshot = try await BrokerStatus.fetch(endpoint: connection.broker, curve: connection.brokerCurve(),
                                                    timeout: .milliseconds(timeoutMilliseconds))
        } catch {
            print("broker at \(connection.broker): \(error)")
            throw ExitCode.failure
        }
        if output == .json { return try printJSON(snapshot) }
        print("broker at \(connection.broker)")
        print("agents: \(snapshot.agents.count)")
        for agent in snapshot.agents {
            print("  \(agent.id)  layer=\(agent.layer)  state=\(agent.state)  in-flight=\(agent.inFlight)  caps=[\(agent.capabilities.joined(separator: ","))]")
        }
        print("pending: \(snapshot.pending) (waiting for an agent: \(snapshot.waiting))")
        let outcomes = snapshot.outcomes.filter { $0.value > 0 }.sorted { $0.key < $1.key }
        print("outcomes: " + (outcomes.isEmpty ? "none yet" : outcomes.map { "\($0.key)=\($0.value)" }.joined(separator: " ")))
        print("accepted=\(snapshot.accepted) deliveries=\(snapshot.deliveries) redeliveries=\(snapshot.redeliveries) "
              + "late-replies=\(snapshot.lateReplies) dedupe-hits=\(snapshot.dedupeHits) malformed=\(snapshot.malformed)")
        print("events: topics=\(snapshot.topics) published=\(snapshot.eventsPublished) replayed=\(snapshot.eventsReplayed) "
              + "gaps=\(snapshot.gapsReported) resends-deduplicated=\(snapshot.eventDedupeHits)")
    }
}

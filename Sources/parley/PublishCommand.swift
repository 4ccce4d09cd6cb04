import ArgumentParser
import Parley

/// `parley publish`: raise one event as the agent its topic names.
struct PublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "publish",
        abstract: "Publish an event and print the sequence number the broker gave it.",
        discussion: "Registers as the agent the topic names (callback.<agent>.<event>), so that agent must not be running."
    )

    @OptionGroup var connection: BrokerOptions

    @Option(help: "callback.<agent>.<event>")
    var topic: String

    @Option(help: "The JSON payload.")
    var json = "null"

    @Option(help: "The layer to register in.")
    var layer = "domain"

    func run() async throws {
        guard let parsed = Topic(topic) else {
            throw ValidationError(Topic.problem(topic) ?? "--topic must be callback.<agent>.<event>")
        }
        let payload = try validatedJSON(json, option: "--json")
        let agent = try Agent(connection.agentConfiguration(id: parsed.agent, layer: layer))
        try await connection.requireBroker()
        try await agent.connect()
        defer { Task { await agent.close() } }
        let receipt = try await agent.publish(parsed.event, data: payload)
        print("published \(receipt.topic) #\(receipt.sequence)")
        await agent.close()
    }
}

import ArgumentParser

/// `parley-chaos`: runs agents, a broker and a gateway for real and injects faults while they work, then
/// checks that no request was lost and no confirmed event silently went missing.
@main
struct ParleyChaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-chaos",
        abstract: "Chaos harness: kills, pauses and restarts Parley agents, the gateway and the broker under load, then checks the figures.",
        subcommands: [RunCommand.self, AgentCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

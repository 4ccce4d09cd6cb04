import ArgumentParser
import ParleyWire

/// `parley`: poke at a running Parley system.
@main
struct ParleyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Send requests, run a demo agent, publish and tail events, and inspect a Parley broker.",
        version: ParleyVersion.current,
        subcommands: [RequestCommand.self, ServeCommand.self, StatusCommand.self, PublishCommand.self, TailCommand.self,
                      PolicyCommand.self, KeygenCommand.self, HealthCommand.self]
    )
}

/// Options every subcommand that talks to the broker shares.
struct BrokerOptions: ParsableArguments {
    @Option(help: "The broker's ROUTER endpoint.")
    var broker = "tcp://127.0.0.1:7410"

    @Option(help: "The broker's events (XPUB) endpoint.")
    var events = "tcp://127.0.0.1:7411"
}

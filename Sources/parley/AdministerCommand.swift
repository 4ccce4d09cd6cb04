import ArgumentParser
import Parley

/// `parley admin`: an administrator's actions on a running broker.
struct AdministerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Evict an agent or purge a topic's retained events (admin identities only).",
        discussion: """
            The broker obeys only an admin identity: with CURVE, a key whose entry in the broker's keys file says \
            `admin: true` (give it with --secret-key); without CURVE, a connection from the broker's own host. Every \
            action, obeyed or refused, goes to the broker's log as an `admin` record. Exits 0 when the broker did it, \
            1 otherwise.
            """,
        subcommands: [Evict.self, Purge.self]
    )

    /// `parley admin evict AGENT`.
    struct Evict: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unregister an agent now, as if it had said BYE.",
            discussion: """
                What it was serving goes to other agents (or waits for one); requests addressed to it end UNAVAILABLE. \
                A running agent may register again: to keep it out, remove its key from the keys file or stop it.
                """
        )
        @OptionGroup var connection: BrokerOptions
        @Argument(help: "The agent id.") var agent: String

        func run() async throws {
            try await connection.requireBroker()
            try report(await BrokerAdmin.evict(agent: agent, endpoint: connection.broker, curve: connection.brokerCurve()))
        }
    }

    /// `parley admin purge TOPIC`.
    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Drop every event a topic retains (in memory and in the journal); its sequence goes on.",
            discussion: "A later REPLAY of the purged events gets GAP. TOPIC is callback.<agent>.<event>."
        )
        @OptionGroup var connection: BrokerOptions
        @Argument(help: "The topic, callback.<agent>.<event>.") var topic: String

        func run() async throws {
            try await connection.requireBroker()
            try report(await BrokerAdmin.purge(topic: topic, endpoint: connection.broker, curve: connection.brokerCurve()))
        }
    }
}

/// Prints the broker's answer; a refusal exits 1.
private func report(_ answer: BrokerAdmin.Answer) throws {
    guard answer.status == .ok else {
        print("refused (\(answer.status)): \(answer.detail)")
        throw ExitCode.failure
    }
    print(answer.detail)
}

import ArgumentParser
import Parley

/// `parley request`: send one request and print its outcome.
struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Send a request and print the outcome and the reply.",
        discussion: "Exits 0 on OK, 1 on any other status."
    )

    @OptionGroup var connection: BrokerOptions

    @Option(help: "Where to send it: agent:<id> or cap:<name> (in --layer), or layer:<layer>[/<cap>] (another layer, through the gateway).")
    var to: String

    @Option(help: "The JSON payload.")
    var json = "{}"

    @Option(help: "help, clarification, or call (what a cross-layer policy rule usually allows).")
    var kind = "help"

    @Option(help: "The layer this CLI agent registers in (agent: and cap: targets stay inside it).")
    var layer = "domain"

    @Option(help: "The agent id this CLI registers with (default: cli-<random>).")
    var id: String?

    @Option(name: .customLong("timeout-ms"), help: "Deadline in milliseconds.")
    var timeoutMilliseconds = 30_000

    @Option(help: "text, or json: {\"status\", \"attempts\", \"reply\"} on one line (the reply as text).")
    var output = OutputFormat.text

    /// The outcome as `--output json` prints it.
    private struct PrintedOutcome: Encodable {
        let status: String
        let attempts: Int
        let reply: String
    }

    func run() async throws {
        guard let target = Target(to) else {
            throw ValidationError("--to must be agent:<id>, cap:<name> or layer:<layer>[/<cap>], not '\(to)'")
        }
        let requestKind: RequestKind
        switch kind {
        case "help": requestKind = .help
        case "clarification": requestKind = .clarification
        case "call": requestKind = .call
        default: throw ValidationError("--kind must be help, clarification or call")
        }
        let payload = try validatedJSON(json, option: "--json")
        let agentID = id ?? "cli-\(CallbackID.random().description.prefix(8))"
        let agent = try Agent(connection.agentConfiguration(id: agentID, layer: layer))
        try await connection.requireBroker()
        try await agent.connect()
        let outcome: Outcome
        if case .layer(let layer, let capability) = target {
            outcome = try await agent.sendAcrossLayers(requestKind, toLayer: layer, need: capability, body: payload,
                                                       timeout: .milliseconds(timeoutMilliseconds), retries: 0)
        } else {
            outcome = await agent.send(requestKind, to: target, body: payload, timeout: .milliseconds(timeoutMilliseconds))
        }
        await agent.close()
        if output == .json {
            try printJSON(PrintedOutcome(status: "\(outcome.status)", attempts: outcome.attempts, reply: outcome.text))
        } else {
            print("\(outcome.status) (attempts: \(outcome.attempts))")
            print(outcome.text)
        }
        if outcome.status != .ok { throw ExitCode.failure }
    }
}

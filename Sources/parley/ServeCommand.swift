import ArgumentParser
import Parley
#if canImport(Glibc)
import Glibc
#endif

/// `parley serve`: a demo agent that echoes every request it gets.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run a demo agent that answers every request with its own payload.",
        discussion: "Runs until interrupted."
    )

    @OptionGroup var connection: BrokerOptions

    @Option(help: "The agent id.")
    var id: String

    @Option(help: "The agent's layer.")
    var layer = "domain"

    @Option(name: .customLong("cap"), help: "A capability it offers (repeatable).")
    var capabilities: [String] = []

    @Option(name: .customLong("delay-ms"), help: "Wait this long before answering (simulates slow work).")
    var delayMilliseconds = 0

    func run() async throws {
        let delay = Duration.milliseconds(delayMilliseconds)
        let agent = try Agent(connection.agentConfiguration(id: id, layer: layer, capabilities: capabilities))
        agent.serve { request in
            print("\(request.kind) from \(request.requester) (attempt \(request.attempt)): \(String(decoding: request.body, as: UTF8.self))")
            fflush(nil)
            if delay > .zero { try await Task.sleep(for: delay) }
            return .answer(bytes: request.body)
        }
        try await connection.requireBroker()
        try await agent.connect()
        print("agent \(id) serving in layer \(layer) with capabilities [\(capabilities.joined(separator: ", "))]")
        fflush(nil)
        while !Task.isCancelled { try await Task.sleep(for: .seconds(3_600)) }
    }
}

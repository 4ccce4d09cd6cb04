import ArgumentParser
import Foundation
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

/// Options every subcommand that talks to the broker shares; their defaults come from `PARLEY_BROKER` and
/// `PARLEY_EVENTS` when set.
struct BrokerOptions: ParsableArguments {
    @Option(help: "The broker's ROUTER endpoint (environment: PARLEY_BROKER).")
    var broker = ProcessInfo.processInfo.environment["PARLEY_BROKER"] ?? "tcp://127.0.0.1:7410"

    @Option(help: "The broker's events (XPUB) endpoint (environment: PARLEY_EVENTS).")
    var events = ProcessInfo.processInfo.environment["PARLEY_EVENTS"] ?? "tcp://127.0.0.1:7411"
}

/// How a subcommand prints its result: for people, or as one JSON object for scripts.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// Refuses a payload that is not JSON, naming the option.
func validatedJSON(_ text: String, option: String) throws -> [UInt8] {
    let bytes = Array(text.utf8)
    guard (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil else {
        throw ValidationError("\(option) is not valid JSON: \(text)")
    }
    return bytes
}

/// Prints `value` as one line of JSON with sorted keys.
func printJSON<Value: Encodable>(_ value: Value) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

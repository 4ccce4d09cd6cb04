import ArgumentParser
import Foundation
import Parley

/// `parley tail`: a live, human-readable view of events, with sequence numbers and gaps.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print events as they arrive: sequence numbers, times, payloads, and gaps.",
        discussion: "TOPIC is callback.<agent>. (all of one agent's events) or callback.<agent>.<event>. Runs until interrupted."
    )

    @OptionGroup var connection: BrokerOptions

    @Argument(help: "callback.<agent>. or callback.<agent>.<event>")
    var topic: String

    @Option(help: "Start from this sequence number (replaying what the broker still retains) instead of now.")
    var from: UInt64?

    @Option(help: "Stop after this many events (default: run until interrupted).")
    var count: Int?

    func run() async throws {
        guard let selector = TopicSelector(topic) else {
            throw ValidationError("TOPIC must be callback.<agent>. or callback.<agent>.<event>, not '\(topic)'")
        }
        let agent = try Agent(connection.agentConfiguration(id: "tail-\(CallbackID.random().description.prefix(8))", layer: "observer"))
        try await connection.requireBroker()
        try await agent.connect()
        let subscription = agent.subscribe([selector], from: from.map(SubscriptionStart.sequence) ?? .now)
        print("tailing \(selector) (Ctrl-C stops)")
        fflush(nil)
        var seen = 0
        for await notice in subscription {
            switch notice {
            case .event(let event):
                let time = Date(timeIntervalSince1970: Double(event.timestamp) / 1_000).formatted(.iso8601)
                print("\(event.topic) #\(event.sequence) \(time)\(event.replayed ? " (replayed)" : "") \(String(decoding: event.data, as: UTF8.self))")
                seen += 1
            case .gap(let topic, let from, let to):
                print("GAP \(topic) #\(from)…#\(to): no longer retained by the broker")
            }
            fflush(nil)
            if let count, seen >= count { break }
        }
        subscription.cancel()
        await agent.close()
    }
}

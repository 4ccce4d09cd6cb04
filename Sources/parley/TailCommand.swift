import ArgumentParser
import Foundation
import Parley

/// `parley tail`: a live, human-readable view of events, with sequence numbers and gaps, for one agent, one topic or
/// a pattern across agents.
struct TailCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Print events as they arrive: sequence numbers, times, payloads, and gaps.",
        discussion: """
            PATTERN is callback.<agent>.<event>, where either part may hold * (any run of characters in that part): \
            callback.game. or callback.game.* (all of game's events), callback.*.on_error (every agent's on_error), \
            callback.game.on_* , or * (every event). With one agent, missed events are replayed and --from replays \
            what the broker retains; with * in the agent, --from covers the agents registered now (STATUS), and \
            without it every agent's events are followed live (a dropped one is printed as MISSED). Runs until \
            interrupted.
            """
    )

    @OptionGroup var connection: BrokerOptions

    @Argument(help: "callback.<agent>.<event>, either part may hold *; callback.<agent>. for all of one agent's events")
    var topic: String

    @Option(help: "Start from this sequence number (replaying what the broker still retains) instead of now.")
    var from: UInt64?

    @Option(help: "Stop after this many events (default: run until interrupted).")
    var count: Int?

    func run() async throws {
        guard let pattern = TopicPattern(topic) else {
            throw ValidationError("PATTERN must be callback.<agent>.<event> (either part may hold *) or callback.<agent>., not '\(topic)'")
        }
        try await connection.requireBroker()
        if let selector = pattern.selector { return try await follow([selector], pattern: pattern) }
        guard from != nil else {
            print("tailing \(pattern) live from every agent (Ctrl-C stops)")
            fflush(nil)
            return try await LiveTail(eventsEndpoint: connection.events, curve: connection.curveKeys(), pattern: pattern, count: count).run()
        }
        let status = try await BrokerStatus.fetch(endpoint: connection.broker, curve: connection.brokerCurve())
        let agents = status.agents.map(\.id).filter { TopicPattern.glob(pattern.agent, matches: $0) }.sorted()
        guard !agents.isEmpty else {
            throw ValidationError("no agent registered at the broker matches '\(pattern.agent)' (without --from, tail follows every agent live)")
        }
        try await follow(agents.map(TopicSelector.agent), pattern: pattern)
    }

    /// Follows `selectors` through an SDK subscription (replay from --from, missed events replayed), printing the
    /// events `pattern` matches.
    private func follow(_ selectors: [TopicSelector], pattern: TopicPattern) async throws {
        let agent = try Agent(connection.agentConfiguration(id: "tail-\(CallbackID.random().description.prefix(8))", layer: "observer"))
        try await agent.connect()
        let subscription = agent.subscribe(selectors, from: from.map(SubscriptionStart.sequence) ?? .now)
        print("tailing \(pattern)\(selectors.count > 1 ? " from \(selectors.count) agents" : "") (Ctrl-C stops)")
        fflush(nil)
        var seen = 0
        for await notice in subscription {
            switch notice {
            case .event(let event):
                guard pattern.matches(event.topic) else { continue }
                print(TailLine.event(topic: event.topic, sequence: event.sequence, timestamp: event.timestamp, replayed: event.replayed,
                                     data: event.data))
                seen += 1
            case .gap(let topic, let from, let to):
                guard pattern.matches(topic) else { continue }
                print("GAP \(topic) #\(from)…#\(to): no longer retained by the broker")
            }
            fflush(nil)
            if let count, seen >= count { break }
        }
        subscription.cancel()
        await agent.close()
    }
}

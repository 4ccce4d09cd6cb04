import MCP
import Parley
import Synchronization

/// The `recent_events` tool: what the broker retains of an agent's events, read back by a replay.
extension ParleyToolCalls {
    /// A replay has no end marker at the SDK's level: the collection ends at `limit` events, once nothing more
    /// has arrived for `idle` (the first event may take `firstWait`), or after `cap` in all.
    private static let firstWait: Duration = .seconds(1)
    private static let idle: Duration = .milliseconds(500)
    private static let cap: Duration = .seconds(20)

    /// Replays the agent's events from `from_sequence`, one line each, and a GAP line for what is no longer retained.
    func recentEvents(_ arguments: ToolArguments) async throws -> CallTool.Result {
        let agentID = try arguments.name("agent")
        let event = try arguments.optionalName("event")
        let limit = try arguments.integer("limit", default: 50, maximum: 500)
        let from = try arguments.integer("from_sequence", default: 1)
        let subscription = try agent.subscribe(to: agentID, events: event.map { [$0] }, from: .sequence(UInt64(from)))
        defer { subscription.cancel() }
        let lines = await collect(subscription, limit: limit)
        guard !lines.isEmpty else { return text("no retained events of \(agentID)\(event.map { "." + $0 } ?? "") from #\(from)") }
        return text(lines.joined(separator: "\n"))
    }

    private func collect(_ subscription: EventSubscription, limit: Int) async -> [String] {
        let clock = ContinuousClock()
        let quiet = QuietDeadline(clock.now + Self.firstWait)
        let reading = Task {
            var lines: [String] = []
            for await notice in subscription {
                switch notice {
                case .event(let event):
                    lines.append("\(event.topic) #\(event.sequence) \(event.timestamp) \(String(decoding: event.data, as: UTF8.self))")
                case .gap(let topic, let from, let to):
                    lines.append("GAP \(topic) #\(from)…#\(to): no longer retained by the broker")
                }
                if lines.count >= limit { break }
                quiet.move(to: clock.now + Self.idle)
            }
            return lines
        }
        let timing = Task {
            let end = clock.now + Self.cap
            while case let due = min(quiet.instant, end), clock.now < due {
                guard (try? await Task.sleep(until: due, clock: clock)) != nil else { return }
            }
            reading.cancel()
        }
        defer { timing.cancel() }
        return await withTaskCancellationHandler { await reading.value } onCancel: { reading.cancel() }
    }
}

/// When a collection falls quiet: moved on by each event. Thread-safe.
private final class QuietDeadline: Sendable {
    private let due: Mutex<ContinuousClock.Instant>

    init(_ instant: ContinuousClock.Instant) { due = Mutex(instant) }

    var instant: ContinuousClock.Instant { due.withLock { $0 } }

    func move(to instant: ContinuousClock.Instant) { due.withLock { $0 = instant } }
}

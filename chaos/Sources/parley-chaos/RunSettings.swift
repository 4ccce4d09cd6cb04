import Foundation

/// The shape of one chaos run: which agents, how long, how hard.
struct RunSettings {
    var seed: UInt64
    var quick: Bool
    /// Keep the work directory even when the run passes.
    var keep = false
    /// Fail on findings too (UNAUTHORIZED or NO_ROUTE outcomes on allowed, routable calls).
    var strict = false
    /// Seconds of traffic (requests and events), faults included.
    var duration: Double
    var workDirectory: String
    var buildDirectory: String
    var heartbeatMilliseconds = 200
    var requestTimeoutMilliseconds: Int
    var requesterConcurrency = 3
    var thinkMilliseconds = 15
    var publishIntervalMilliseconds = 20
    var slowPercent = 3
    var retentionCount: Int
    /// Unix ms: requesters and publishers stop starting new work (`UInt64.max` until all agents are connected).
    var stopAt: UInt64 = .max
    /// Where the harness writes `stopAt` for the agents.
    var stopFile: String { "\(workDirectory)/stop-at" }
    /// Unix ms: every agent writes its figures and exits, whatever happens.
    var exitBy: UInt64 = 0
    /// The agents, by role.
    var agentIDs: [(AgentRole, [String])]

    /// The longest the harness waits after `stopAt` for requesters to resolve what they have in flight:
    /// longer than a request's timeout, the SDK's grace (2 s) and a retry.
    var drainSeconds: Double { Double(requestTimeoutMilliseconds) / 1_000 + 4 }
    /// The longest it waits for subscribers to catch up with the last confirmed events
    /// (the SDK syncs every 3 s).
    var settleSeconds: Double { 10 }

    func binary(_ name: String) -> String { "\(buildDirectory)/\(name)" }

    static func make(quick: Bool, duration: Double?, seed: UInt64, workDirectory: String, buildDirectory: String,
                     requestTimeoutMilliseconds: Int?) -> RunSettings {
        RunSettings(
            seed: seed, quick: quick, duration: duration ?? (quick ? 12 : 90),
            workDirectory: workDirectory, buildDirectory: buildDirectory,
            requestTimeoutMilliseconds: requestTimeoutMilliseconds ?? (quick ? 3_000 : 4_000),
            retentionCount: quick ? 100 : 500,
            agentIDs: [
                (.server, quick ? ["srv-1", "srv-2"] : ["srv-1", "srv-2", "srv-3"]),
                (.infraServer, ["inf-1", "inf-2"]),
                (.requester, ["req-1", "req-2"]),
                (.crossRequester, ["xreq-1"]),
                (.publisher, ["pub-1", "pub-2"]),
                (.subscriber, quick ? ["sub-1", "sub-2"] : ["sub-1", "sub-2", "sub-3"]),
            ])
    }
}

/// The harness's own output: one line per step, with the seconds since the start.
final class Log: Sendable {
    let start = Date()

    func say(_ text: String) {
        let elapsed = Date().timeIntervalSince(start)
        print(String(format: "[%6.2fs] ", elapsed) + text)
        fflush(nil)
    }
}

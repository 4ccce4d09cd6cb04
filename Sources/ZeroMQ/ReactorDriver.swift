import ParleyStatistics
/// What a process plugs into `ReactorDriver`: its timers and queued work, its waiting, its reading, and how it
/// winds down. The broker, the gateway and each agent connection conform, with their sans-I/O core inside.
public protocol ReactorProcess {
    /// Runs due timers and queued work and sends what they produced. False ends the loop at once.
    mutating func prepare(now: UInt64) throws -> Bool
    /// When the process needs a turn even without input (monotonic milliseconds).
    var nextWakeup: UInt64 { get }
    /// Waits up to `milliseconds` for input or a wake-up signal (and clears the signal).
    mutating func wait(milliseconds: Int) throws
    /// Reads what arrived, at most a batch per source so that timers still run under load, and sends the results.
    mutating func read(now: UInt64) throws
    /// Work still owed to peers: a draining loop ends when none is left.
    var inFlight: Int { get }
    /// A stop was requested: new work is refused from now on; what is in flight may finish within the grace.
    mutating func beginDraining(now: UInt64)
}

/// The loop every Parley process runs on its reactor thread: prepare (timers, queued work, flush), wait for input
/// or the next timer, read; on a stop request, drain until nothing is in flight or the grace is over.
public struct ReactorDriver {
    /// The longest wait while running, so that a process looks at its timers at least this often.
    public var maximumWait: UInt64
    /// The longest wait while draining, to end soon after the last work in flight.
    public var drainingWait: UInt64
    /// How long a draining process may take to finish the work in flight (0: stop at once).
    public var grace: UInt64

    public init(maximumWait: UInt64, drainingWait: UInt64 = 50, grace: UInt64 = 0) {
        self.maximumWait = maximumWait
        self.drainingWait = drainingWait
        self.grace = grace
    }

    /// Turns until `process.prepare` says to stop, or until a stop is requested and the drain is over.
    public func run<Process: ReactorProcess>(_ process: inout Process, stopRequested: () -> Bool) throws {
        var drainingUntil: UInt64?
        while true {
            let now = MonotonicClock.milliseconds()
            if drainingUntil == nil, stopRequested() {
                drainingUntil = now + grace
                process.beginDraining(now: now)
            }
            if let deadline = drainingUntil, process.inFlight == 0 || now >= deadline { return }
            guard try process.prepare(now: now) else { return }
            let due = process.nextWakeup
            let limit = drainingUntil == nil ? maximumWait : drainingWait
            try process.wait(milliseconds: Int(due > now ? min(due - now, limit) : 0))
            try process.read(now: MonotonicClock.milliseconds())
        }
    }
}

/// CPU one process used during a measurement, in cores (1.0 = one core busy the whole time).
struct ProcessCPU: Sendable {
    /// `parley-broker`, `requester-2`, `subscriber-7`, …
    let label: String
    /// The thing measured (broker, gateway, forwarder, proxy) rather than a load generator.
    let system: Bool
    let cores: Double
    /// Its busiest thread alone, and that thread's name: a thread near 1.0 is saturated, whatever the process.
    let busiestThread: Double
    let busiestThreadName: String
}

/// CPU of every process of a scenario during its measurement, and of the machine.
struct CPUFigures: Sendable {
    var processes: [ProcessCPU] = []
    /// Interrupt and softirq time of the whole machine (loopback TCP's receive work, mostly).
    var softirq = 0.0
    /// Process time not spent in this scenario's processes: other work sharing the machine.
    var others = 0.0

    var system: Double { processes.filter(\.system).reduce(0) { $0 + $1.cores } }
    var generators: [ProcessCPU] { processes.filter { !$0.system } }
    var generatorTotal: Double { generators.reduce(0) { $0 + $1.cores } }
    /// The busiest load generator: a single-threaded generator near 1.0 would be limiting the rate.
    var busiestGenerator: ProcessCPU? { generators.max { $0.cores < $1.cores } }
}

/// What the baseline of the same round measured, for ratios.
struct BaselineFigures: Sendable {
    let name: String
    let rate: Double
    let p99: Double
    /// Its `cpu.others`: whether the baseline itself was measured on a busy machine.
    let others: Double
}

/// Above this much CPU (in cores) spent outside the benchmark during a measurement, it is flagged NOISY and
/// left out of the medians when quieter rounds exist.
let noisyThreshold = 0.25

/// The figures of one scenario run.
struct Measurement: Sendable {
    let spec: ScenarioSpec
    var round = 1
    /// Answers (request/reply) or deliveries summed over subscribers (events) counted.
    var messages = 0
    var seconds = 0.0
    /// messages / seconds.
    var rate = 0.0
    var latency = LatencySummary()
    /// Open loop: the offered rate.
    var offeredRate: Double?
    /// Events: events published per second (until the last CONFIRM, or the last send to the proxy).
    var publishRate: Double?
    /// Answers other than OK, answers to nothing sent, requests never answered.
    var failures = 0
    /// Events: events a subscriber never received (sequence holes and a missing tail), summed.
    var loss: UInt64?
    var duplicates = 0
    var cpu = CPUFigures()
    /// Why the scenario could not run, when it could not.
    var error: String?
    var baseline: BaselineFigures?

    init(spec: ScenarioSpec) { self.spec = spec }

    var name: String { spec.name }

    /// rate / the baseline's rate.
    var ratio: Double? {
        guard let baseline, baseline.rate > 0 else { return nil }
        return rate / baseline.rate
    }

    /// p99 / the baseline's p99 (above 1: slower). Request/reply only: the proxy's publisher has no flow
    /// control, so its events queue without bound and its latency is not a like-for-like comparison.
    var p99Ratio: Double? {
        guard spec.kind.isRequestReply, let baseline, baseline.p99 > 0 else { return nil }
        return latency.p99 / baseline.p99
    }

    /// CPU of every process of the scenario plus the machine's softirq time, per message, in µs. Less sensitive
    /// to other work on the machine than the rate: on two saturated cores the rate is about 2 ÷ this.
    var cpuPerMessage: Double? {
        rate > 0 ? (cpu.system + cpu.generatorTotal + cpu.softirq) / rate * 1e6 : nil
    }

    /// CPU of the processes measured (broker, gateway, forwarder, proxy) per message, in µs.
    var systemCPUPerMessage: Double? { rate > 0 ? cpu.system / rate * 1e6 : nil }

    /// Neither this measurement nor its baseline shared the machine with much other work.
    var isQuiet: Bool { cpu.others <= noisyThreshold && (baseline?.others ?? 0) <= noisyThreshold }

    /// Ran, counted something, and lost and failed nothing.
    var succeeded: Bool { error == nil && messages > 0 && failures == 0 && (loss ?? 0) == 0 && duplicates == 0 }

    /// Why `succeeded` is false, for people.
    var problem: String? {
        if let error { return error }
        if messages == 0 { return "nothing was counted" }
        var problems: [String] = []
        if failures > 0 { problems.append("\(failures) requests failed or went unanswered") }
        if let loss, loss > 0 { problems.append("\(loss) events lost") }
        if duplicates > 0 { problems.append("\(duplicates) duplicate or out-of-order events") }
        return problems.isEmpty ? nil : problems.joined(separator: ", ")
    }
}

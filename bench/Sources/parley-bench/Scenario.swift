import Foundation

/// One measured scenario: start the router (forwarder or broker), the responder, then the requester;
/// read the requester's figures; stop every child, whatever happened.
struct Scenario {
    let kind: ScenarioKind
    let window: Int
    let settings: Settings

    func run() throws -> ScenarioResult {
        var children: [ChildProcess] = []
        defer { terminateAll(children) }

        let router: ChildProcess
        let requesterEndpoint: String
        let responderEndpoint: String
        let mode: LoadMode
        switch kind {
        case .forwarder:
            router = try ChildProcess(name: "forwarder", path: settings.benchPath, arguments: ["forwarder"])
            children.append(router)
            let line = try router.waitForLine(timeout: 10, what: "its ready line") { $0.hasPrefix("forwarder ready ") }
            let fields = Dictionary(line.split(separator: " ").compactMap { field -> (String, String)? in
                let parts = field.split(separator: "=", maxSplits: 1)
                return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
            }, uniquingKeysWith: { first, _ in first })
            guard let frontend = fields["frontend"], let backend = fields["backend"] else {
                throw BenchError("cannot read the forwarder's endpoints from: \(line)")
            }
            requesterEndpoint = frontend
            responderEndpoint = backend
            mode = .raw
        case .helpRR:
            router = try ChildProcess(name: "parley-broker", path: settings.brokerPath,
                                      arguments: settings.brokerBaseArguments + settings.brokerArguments)
            children.append(router)
            let prefix = "parley-broker ready on "
            let line = try router.waitForLine(timeout: 10, what: "\"\(prefix)…\"") { $0.hasPrefix(prefix) }
            // "parley-broker ready on <endpoint>", possibly followed by more endpoints.
            requesterEndpoint = String(line.dropFirst(prefix.count).prefix { $0 != " " })
            responderEndpoint = requesterEndpoint
            mode = .broker
        }

        let responder = try ChildProcess(name: "responder", path: settings.benchPath,
                                         arguments: ["responder", "--endpoint", responderEndpoint, "--mode", mode.rawValue])
        children.append(responder)
        _ = try responder.waitForLine(timeout: 10, what: "\"responder ready\"") { $0 == "responder ready" }

        let requester = try ChildProcess(name: "requester", path: settings.benchPath, arguments: [
            "requester", "--endpoint", requesterEndpoint, "--mode", mode.rawValue, "--window", String(window),
            "--seconds", String(settings.seconds), "--warmup", String(settings.warmup),
            "--body-bytes", String(settings.bodyBytes),
        ])
        children.append(requester)
        if settings.verbose {
            emitError("  pids: \(kind == .forwarder ? "forwarder" : "parley-broker") \(router.pid), "
                      + "responder \(responder.pid), requester \(requester.pid)")
        }

        _ = try requester.waitForLine(timeout: settings.warmup + 30, what: "\"measuring\"") { $0 == "measuring" }
        let startedAt = monotonicNanoseconds()
        let routerStart = router.cpuSeconds ?? 0
        let routerMainStart = router.mainThreadCPUSeconds ?? 0
        let responderStart = responder.cpuSeconds ?? 0
        let machineStart = machineBusySeconds() ?? (0, 0)
        let line = try requester.waitForLine(timeout: settings.seconds + 30, what: "its figures") { $0.hasPrefix("{") }
        let elapsed = Double(monotonicNanoseconds() - startedAt) / 1e9
        let routerCPU = ((router.cpuSeconds ?? routerStart) - routerStart) / elapsed
        let routerMainCPU = ((router.mainThreadCPUSeconds ?? routerMainStart) - routerMainStart) / elapsed
        let responderCPU = ((responder.cpuSeconds ?? responderStart) - responderStart) / elapsed
        let machineEnd = machineBusySeconds() ?? machineStart
        let tasksCPU = (machineEnd.tasks - machineStart.tasks) / elapsed
        let interruptCPU = (machineEnd.interrupts - machineStart.interrupts) / elapsed

        let figures: RequesterFigures
        do {
            figures = try JSONDecoder().decode(RequesterFigures.self, from: Data(line.utf8))
        } catch {
            throw BenchError("cannot read the requester's figures (\(error)): \(line)")
        }
        let requesterCPU = figures.cpu_seconds / figures.seconds
        let others = max(0, tasksCPU - routerCPU - requesterCPU - responderCPU)
        return ScenarioResult(kind: kind, window: window, figures: figures,
                              cpu: .init(router: routerCPU, routerMain: routerMainCPU, requester: requesterCPU,
                                         responder: responderCPU, interrupts: interruptCPU, others: others))
    }
}

/// The requester's JSON line.
struct RequesterFigures: Decodable {
    let messages: Int
    let seconds: Double
    let rate: Double
    let p50_us: Double
    let p99_us: Double
    let p999_us: Double
    let max_us: Double
    let cpu_seconds: Double
    let failures: Int
    let unmatched: Int
}

/// A scenario's figures, with the forwarder's of the same window for comparison.
struct ScenarioResult {
    /// CPU used during the measurement, in cores (1.0 = one core busy the whole time).
    struct CPU {
        let router: Double
        let routerMain: Double
        let requester: Double
        let responder: Double
        /// Interrupt and softirq time of the whole machine (loopback TCP's receive work, mostly).
        let interrupts: Double
        /// Process time not spent in this scenario's processes: other work sharing the machine.
        let others: Double
    }

    let kind: ScenarioKind
    let window: Int
    let figures: RequesterFigures
    let cpu: CPU
    /// Which repetition this is (1-based).
    var round = 1
    var baseline: ScenarioResult? {
        get { baselineBox.first }
        set { baselineBox = newValue.map { [$0] } ?? [] }
    }
    private var baselineBox: [ScenarioResult] = []

    init(kind: ScenarioKind, window: Int, figures: RequesterFigures, cpu: CPU) {
        self.kind = kind
        self.window = window
        self.figures = figures
        self.cpu = cpu
    }

    var name: String { "\(kind.rawValue)-w\(window)" }

    /// This rate over the forwarder's.
    var ratio: Double? {
        guard let baseline, baseline.figures.rate > 0 else { return nil }
        return figures.rate / baseline.figures.rate
    }

    /// This p99 over the forwarder's (above 1: slower).
    var p99Ratio: Double? {
        guard let baseline, baseline.figures.p99_us > 0 else { return nil }
        return figures.p99_us / baseline.figures.p99_us
    }
}

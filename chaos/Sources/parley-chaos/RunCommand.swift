import ArgumentParser
import Dispatch
import Foundation
import ParleyChildProcess
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `parley-chaos run`: one bounded chaos run.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Starts a broker, a gateway and agents, injects faults on a seeded schedule, and checks the figures.",
        discussion: """
            Exit status: 0 when every check holds (no lost request, no silent event hole, …), 1 when one fails,
            2 when the run itself could not complete. Everything started is killed by process id at the end.
            """
    )

    @Flag(help: "The short run (about 12 s of traffic, fewer agents) for `make test`.")
    var quick = false

    @Option(help: "Seconds of traffic (default 12 with --quick, else 90).")
    var duration: Double?

    @Option(help: "Seed of the fault schedule (default: random; printed so a run can be repeated).")
    var seed: UInt64?

    @Option(name: .customLong("timeout-ms"), help: "Request timeout (default 3000 with --quick, else 4000).")
    var timeoutMilliseconds: Int?

    @Option(help: "Folder with parley-broker, parley-gateway and parley-chaos (default: this executable's folder).")
    var buildDir: String?

    @Option(help: "Work folder for logs, figures and the event journal (default: a new temporary folder).")
    var workDir: String?

    @Flag(help: "Keep the work folder even when the run passes.")
    var keep = false

    @Flag(help: "Also fail on findings: UNAUTHORIZED, NO_ROUTE or BAD_REQUEST outcomes of calls that are allowed and routable.")
    var strict = false

    func run() throws {
        let seed = seed ?? UInt64.random(in: 1...999_999)
        let buildDirectory = buildDir ?? URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
        let workDirectory = workDir ?? "\(FileManager.default.temporaryDirectory.path)/parley-chaos-\(getpid())"
        var settings = RunSettings.make(quick: quick, duration: duration, seed: seed, workDirectory: workDirectory,
                                        buildDirectory: buildDirectory, requestTimeoutMilliseconds: timeoutMilliseconds)
        settings.keep = keep
        settings.strict = strict
        let log = Log()
        log.say("chaos: seed \(seed) (repeat with --seed \(seed))\(quick ? ", quick" : ""); \(Int(settings.duration)) s of traffic;"
                + " request timeout \(settings.requestTimeoutMilliseconds) ms; work folder \(workDirectory)")

        // Stop cleanly on Ctrl-C or SIGTERM; a watchdog kills everything if the run overstays.
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if interrupted.exchange(true, ordering: .relaxed) { ChildRegistry.killAll(); Glibc.exit(130) }
            }
            source.resume()
            return source
        }
        let limit = settings.duration + settings.drainSeconds + settings.settleSeconds + 90
        let watchdog = Thread {
            Thread.sleep(forTimeInterval: limit)
            print("chaos: FAIL (watchdog: the run took longer than \(Int(limit)) s; killing everything)")
            ChildRegistry.killAll()
            Glibc.exit(3)
        }
        watchdog.start()

        // Children are started from one long-lived thread (see ChildProcess).
        let code = Mutex<Int32>(2)
        let done = DispatchSemaphore(value: 0)
        let orchestrator = Orchestrator(settings: settings, log: log)
        let worker = Thread {
            let result = orchestrator.run()
            code.withLock { $0 = result }
            done.signal()
        }
        worker.stackSize = 8 << 20
        worker.start()
        done.wait()
        ChildRegistry.killAll()
        signals.forEach { $0.cancel() }
        let result = code.withLock { $0 }
        if interrupted.load(ordering: .relaxed) { throw ExitCode(130) }
        if result != 0 { throw ExitCode(result) }
    }
}

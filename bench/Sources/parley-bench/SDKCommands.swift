import ArgumentParser
import Dispatch
import Logging
import ParleyChildProcess
import Parley
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

// The `sdk` scenarios: the same traffic as help-rr and events, but every agent is written with the Swift SDK
// (`import Parley`), each in its own process. What they measure is the SDK and the broker together, so the
// SDK's own CPU is part of the result, not a load-generator overhead to discount.


/// Sends the SDK's log lines to standard error (standard output carries the lines the parent reads).
private func quietLogging() {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .info  // the SDK logs at info only when it reconnects: worth seeing in a benchmark
        return handler
    }
}

/// `parley-bench sdk-responder`: an `Agent` serving capability `echo` with `.answer(bytes: request.body)`.
struct SDKResponderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sdk-responder",
        abstract: "Internal: an SDK agent answering echo requests.",
        shouldDisplay: false
    )

    @Option(help: "The broker's agent endpoint.")
    var endpoint: String

    @Option(help: "Agent id.")
    var agentID = "bench-echo-sdk"

    func run() throws {
        quietLogging()
        try blockingWait { try await self.body() }
    }

    private func body() async throws {
        let agent = try Agent(AgentConfiguration(id: agentID, layer: "bench", capabilities: ["echo"], brokerEndpoint: endpoint))
        agent.serve { .answer(bytes: $0.body) }
        try await agent.connect()
        emitLine("responder ready")
        while true { try await Task.sleep(for: .seconds(3_600)) }
    }
}

/// `parley-bench sdk-requester`: an `Agent` keeping `--window` `send(.help, to: .capability("echo"))` calls
/// in flight, one child task per slot of the window in a task group. Same lines, JSON and sample file as
/// the raw requester's closed loop.
struct SDKRequesterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sdk-requester",
        abstract: "Internal: an SDK agent sending echo requests.",
        shouldDisplay: false
    )

    @Option(help: "The broker's agent endpoint.")
    var endpoint: String

    @Option(help: "Agent id.")
    var agentID = "bench-req-sdk"

    @Option(help: "Requests kept in flight (child tasks).")
    var window = 100

    @Option(help: "Body size in bytes.")
    var bodyBytes = 100

    @Option(help: "The parent's go file.")
    var goFile: String

    @Option(help: "Where to write the latency samples.")
    var samples: String

    func run() throws {
        quietLogging()
        try blockingWait { try await self.body() }
    }

    private func body() async throws {
        let agent = try Agent(AgentConfiguration(id: agentID, layer: "bench", brokerEndpoint: endpoint))
        try await agent.connect()
        let body = [UInt8](repeating: 0x61, count: bodyBytes)
        // Probe until the responder answers.
        let probeDeadline = monotonicNanoseconds() + 15_000_000_000
        var last = "no answer"
        while true {
            let outcome = await agent.send(.help, to: .capability("echo"), body: body, timeout: .seconds(2))
            if outcome.status == .ok { break }
            last = "\(outcome.status): \(outcome.text)"
            guard monotonicNanoseconds() < probeDeadline else { throw BenchError("\(agentID): no probe answered OK within 15 s (last: \(last))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        emitLine("ready")
        let go = try await waitForGo(goFile)

        async let cpuAtStart: Double = {
            let now = monotonicNanoseconds()
            if go.measureStart > now { try? await Task.sleep(for: .nanoseconds(Int64(go.measureStart - now))) }
            emitLine("measuring")
            return processCPUSeconds()
        }()
        let results = await withTaskGroup(of: SlotResult.self) { group in
            for _ in 0..<window {
                group.addTask {
                    var slot = SlotResult()
                    slot.samples.reserveCapacity(1_024)
                    while true {
                        let start = monotonicNanoseconds()
                        guard start < go.measureEnd else { break }
                        let outcome = await agent.send(.help, to: .capability("echo"), body: body)
                        let end = monotonicNanoseconds()
                        guard end >= go.measureStart, end < go.measureEnd else { continue }
                        if outcome.status == .ok {
                            slot.samples.append(end &- start)
                        } else {
                            slot.failures += 1
                            if slot.failures <= 2 { emitError("sdk-requester: \(outcome.status): \(outcome.text)") }
                        }
                    }
                    return slot
                }
            }
            var all = SlotResult()
            for await slot in group {
                all.samples += slot.samples
                all.failures += slot.failures
            }
            return all
        }
        let cpu = processCPUSeconds() - (await cpuAtStart)
        try writeSamples(results.samples, to: samples)
        let seconds = Double(go.measureEnd - go.measureStart) / 1e9
        emitLine("{\"messages\":\(results.samples.count),\"seconds\":\(seconds),\"cpu_seconds\":\(cpu),"
                 + "\"failures\":\(results.failures),\"unmatched\":0,\"incomplete\":0,\"offered_rate\":0}")
        await agent.close()
    }
}

private struct SlotResult: Sendable {
    var samples: [UInt64] = []
    var failures = 0
}

/// Polls for the go file without blocking a thread of the cooperative pool.
private func waitForGo(_ path: String, timeout: Double = 120) async throws -> GoSignal {
    let deadline = monotonicNanoseconds() + nanoseconds(seconds: timeout)
    while true {
        if let signal = GoSignal.load(path: path) { return signal }
        guard monotonicNanoseconds() < deadline else { throw BenchError("no go signal at \(path) within \(timeout) s") }
        try await Task.sleep(for: .milliseconds(1))
    }
}

/// `parley-bench sdk-publisher`: an `Agent` publishing like the raw publisher (warm-up events every 5 ms
/// until go, then `--count` events on `data`), with `publish(_:data:)`, which returns at the CONFIRM; the
/// window of unconfirmed publishes is `--window` child tasks each publishing one event after another.
struct SDKPublisherCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sdk-publisher",
        abstract: "Internal: an SDK agent publishing events.",
        shouldDisplay: false
    )

    @Option(help: "The broker's agent endpoint.")
    var endpoint: String

    @Option(help: "Events to publish after the go signal.")
    var count = 100_000

    @Option(help: "Body size in bytes (at least 8).")
    var bodyBytes = 100

    @Option(help: "Publishes kept unconfirmed at most (child tasks).")
    var window = 1_000

    @Option(help: "The parent's go file.")
    var goFile: String

    func run() throws {
        quietLogging()
        try blockingWait { try await self.body() }
    }

    private func body() async throws {
        let agent = try Agent(AgentConfiguration(id: BenchTopics.publisher, layer: "bench", brokerEndpoint: endpoint))
        try await agent.connect()
        var body = [UInt8](repeating: 0x65, count: max(8, bodyBytes))
        emitLine("ready")
        while GoSignal.load(path: goFile) == nil {
            writeBigEndianUInt64(monotonicNanoseconds(), into: &body, at: 0)
            _ = try? await agent.publish(BenchTopics.warmup.event, data: body)
            try await Task.sleep(for: .milliseconds(5))
        }
        let cpuStart = processCPUSeconds()
        let firstSend = monotonicNanoseconds()
        let counter = SharedCounter()
        let template = body
        let total = count
        let (confirmed, errors) = await withTaskGroup(of: (Int, Int).self) { group in
            for _ in 0..<window {
                group.addTask {
                    var confirmed = 0
                    var errors = 0
                    var body = template
                    while counter.next() <= total {
                        writeBigEndianUInt64(monotonicNanoseconds(), into: &body, at: 0)
                        do {
                            _ = try await agent.publish(BenchTopics.data.event, data: body)
                            confirmed += 1
                        } catch {
                            errors += 1
                            if errors <= 2 { emitError("sdk-publisher: \(error)") }
                        }
                    }
                    return (confirmed, errors)
                }
            }
            var sums = (0, 0)
            for await (confirmed, errors) in group { sums = (sums.0 + confirmed, sums.1 + errors) }
            return sums
        }
        let done = monotonicNanoseconds()
        emitLine("{\"published\":\(total),\"confirmed\":\(confirmed),\"errors\":\(errors),\"first_send_ns\":\(firstSend),"
                 + "\"done_ns\":\(done),\"cpu_seconds\":\(processCPUSeconds() - cpuStart)}")
        while true { try await Task.sleep(for: .seconds(3_600)) }
    }
}

/// A counter shared by child tasks.
private final class SharedCounter: Sendable {
    private let value = Atomic<Int>(0)
    /// 1, 2, 3 …
    func next() -> Int { value.add(1, ordering: .relaxed).newValue }
}

/// Progress of a subscriber, shared with its idle watchdog.
private final class Progress: Sendable {
    let lastData = Atomic<UInt64>(0)
}

/// `parley-bench sdk-subscriber`: an `Agent` with `subscribe(to: "bench-pub", events: ["warmup", "data"])`
/// (queues raised so that nothing is dropped: `eventsHighWaterMark` and `subscriptionBacklogLimit` at
/// 10,000,000). Same lines, JSON and sample file as the raw subscriber; a GAP notice counts as lost events.
struct SDKSubscriberCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sdk-subscriber",
        abstract: "Internal: an SDK agent subscribing to events.",
        shouldDisplay: false
    )

    @Option(help: "The broker's agent endpoint.")
    var endpoint: String

    @Option(help: "The broker's events endpoint.")
    var eventsEndpoint: String

    @Option(help: "Agent id.")
    var agentID = "bench-sub-sdk"

    @Option(help: "Events the publisher sends.")
    var count: Int

    @Option(help: "Give up after this long without data, once data began.")
    var idleSeconds = 5.0

    @Option(help: "Where to write the latency samples.")
    var samples: String

    func run() throws {
        quietLogging()
        try blockingWait { try await self.body() }
    }

    private func body() async throws {
        var configuration = AgentConfiguration(id: agentID, layer: "bench", brokerEndpoint: endpoint, eventsEndpoint: eventsEndpoint)
        configuration.eventsHighWaterMark = 10_000_000
        configuration.subscriptionBacklogLimit = 10_000_000
        let agent = try Agent(configuration)
        try await agent.connect()
        let subscription = try agent.subscribe(to: BenchTopics.publisher, events: [BenchTopics.warmup.event, BenchTopics.data.event])
        emitLine("ready")
        let progress = Progress()
        let idle = nanoseconds(seconds: idleSeconds)
        let watchdog = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(100))
                let last = progress.lastData.load(ordering: .relaxed)
                if last != 0, monotonicNanoseconds() - last > idle {
                    subscription.cancel()
                    return
                }
            }
        }
        var warm = false
        var tracker = SequenceCount(expected: UInt64(count))
        var latencies: [UInt64] = []
        latencies.reserveCapacity(count)
        var firstAt: UInt64 = 0
        var lastAt: UInt64 = 0
        var cpuStart = 0.0
        var gapLost: UInt64 = 0
        var gapNotices = 0
        for await notice in subscription {
            switch notice {
            case .event(let event):
                if event.topic == BenchTopics.warmup {
                    if !warm {
                        warm = true
                        emitLine("warm")
                    }
                    continue
                }
                guard event.topic == BenchTopics.data else { continue }
                let at = monotonicNanoseconds()
                if firstAt == 0 {
                    firstAt = at
                    cpuStart = processCPUSeconds()
                }
                lastAt = at
                progress.lastData.store(at, ordering: .relaxed)
                tracker.record(event.sequence)
                if event.data.count >= 8 {
                    let sent = event.data.withUnsafeBytes { readBigEndianUInt64($0, at: 0) }
                    latencies.append(at &- sent)
                }
            case .gap(let topic, let from, let to):
                guard topic == BenchTopics.data else { continue }
                gapLost += to - from + 1
                gapNotices += 1
                if gapNotices <= 3 {
                    emitError("\(agentID): GAP \(from)…\(to) of \(topic) after \(tracker.received) events, "
                              + "\((monotonicNanoseconds() - firstAt) / 1_000_000) ms into the data")
                }
            }
            if tracker.complete { break }
        }
        watchdog.cancel()
        try writeSamples(latencies, to: samples)
        if tracker.lostAtEnd > 0 {
            emitError("\(agentID): sequences 1…\(count): \(tracker.received) received, \(tracker.lost) in holes, "
                      + "highest \(tracker.highest), \(gapNotices) GAP notices for \(gapLost) events")
        }
        emitLine("{\"received\":\(tracker.received),\"lost\":\(max(tracker.lostAtEnd, gapLost)),\"duplicates\":\(tracker.duplicates),"
                 + "\"highest\":\(tracker.highest),\"first_ns\":\(firstAt),\"last_ns\":\(lastAt),"
                 + "\"cpu_seconds\":\(firstAt == 0 ? 0 : processCPUSeconds() - cpuStart)}")
        subscription.cancel()
        // Stay until the parent stops every process, so that it can still read this one's CPU time in /proc.
        while true { try await Task.sleep(for: .seconds(3_600)) }
    }
}

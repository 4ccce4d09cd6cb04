import Parley
import Synchronization
import Testing

@Suite("Event bus")
struct EventBusTests {
    @Test("handlers run by priority, higher first, and equal priorities in registration order")
    func priorityOrder() async {
        let bus = EventBus()
        let log = EventLog()
        for (label, priority) in [("a0", 0), ("b10", 10), ("c5", 5), ("d10", 10), ("e-1", -1)] {
            bus.on("ordered", priority: priority) { _ in
                log.append(label)
                return .next
            }
        }
        let report = await bus.dispatch(event("ordered"))
        #expect(log.entries == ["b10", "d10", "c5", "a0", "e-1"])
        #expect(report.handled == 5)
        #expect(!report.stopped && !report.unhandled && report.failures.isEmpty)
    }

    @Test("a once-handler runs exactly once, even when two dispatches run at the same time")
    func onceUnderConcurrency() async {
        let bus = EventBus()
        let runs = Counter()
        bus.on("ping", once: true) { _ in
            runs.increment()
            try await Task.sleep(for: .milliseconds(50))  // keeps the first run going while the second dispatch starts
            return .next
        }
        async let first = bus.dispatch(event("ping"))
        async let second = bus.dispatch(event("ping"))
        let reports = await [first, second]
        #expect(runs.value == 1)
        #expect(reports.map(\.handled).reduce(0, +) == 1)
        #expect(reports.filter(\.unhandled).count == 1)
        #expect(bus.handlerCount(for: "ping") == 0)

        let third = await bus.dispatch(event("ping"))
        #expect(runs.value == 1)
        #expect(third.unhandled)
    }

    @Test("a once-handler that a stopped chain never reached stays registered")
    func onceNotReached() async {
        let bus = EventBus()
        let runs = Counter()
        let stopper = bus.on("tick", priority: 1) { _ in .stop }
        bus.on("tick", once: true) { _ in
            runs.increment()
            return .next
        }
        _ = await bus.dispatch(event("tick"))
        #expect(runs.value == 0)
        #expect(bus.handlerCount(for: "tick") == 2)

        bus.off(stopper)
        _ = await bus.dispatch(event("tick"))
        _ = await bus.dispatch(event("tick"))
        #expect(runs.value == 1)
        #expect(bus.handlerCount(for: "tick") == 0)
    }

    @Test("stop ends the chain: lower-priority handlers do not run and the report says stopped")
    func stopPropagation() async {
        let bus = EventBus()
        let log = EventLog()
        bus.on("alarm", priority: 10) { _ in log.append("high"); return .next }
        bus.on("alarm", priority: 5) { _ in log.append("middle"); return .stop }
        bus.on("alarm", priority: 0) { _ in log.append("low"); return .next }
        bus.on("alarm", priority: 5) { _ in log.append("middle-later"); return .next }

        let report = await bus.dispatch(event("alarm"))
        #expect(log.entries == ["high", "middle"])
        #expect(report.stopped)
        #expect(report.handled == 2)
        #expect(report.failures.isEmpty)
    }

    @Test("each handler gets the value the previous one passed on, typed through JSON")
    func valuePassing() async throws {
        let bus = EventBus()
        let firstSaw = Mutex<Score??>(nil)
        bus.on("score", priority: 3) { event in
            firstSaw.withLock { $0 = .some(try? event.decodeValue(Score.self)) }
            let start: Score = try event.decode()
            return try .pass(Score(points: start.points + 1))
        }
        bus.on("score", priority: 2) { _ in .next }  // keeps the value as it is
        bus.on("score", priority: 1) { event in
            guard let previous = try event.decodeValue(Score.self) else { throw TestError("no value passed on") }
            return try .pass(Score(points: previous.points * 10))
        }

        let report = await bus.dispatch(EventContext(name: "score", source: "tester", data: Array(#"{"points":4}"#.utf8)))
        #expect(report.failures.isEmpty)
        #expect(firstSaw.withLock { $0 } == .some(nil))  // the first handler saw no value
        let final = try EventContext(name: "score", source: "tester", data: [], value: report.value).decodeValue(Score.self)
        #expect(final == Score(points: 50))
    }

    @Test("a throwing handler is recorded and reported once while the others still run with the value unchanged")
    func errorIsolation() async throws {
        let bus = EventBus()
        let log = EventLog()
        let reported = Mutex<[HandlerFailure]>([])
        bus.onFailure { failure in reported.withLock { $0.append(failure) } }
        let seven: [UInt8] = [7]
        bus.on("work", priority: 3) { _ in log.append("first"); return .pass(seven) }
        let broken = bus.on("work", priority: 2) { _ in
            log.append("broken")
            throw TestError("boom at the middle")
        }
        bus.on("work", priority: 1) { event in
            log.append("last saw \(event.value ?? [])")
            return .next
        }

        let report = await bus.dispatch(event("work"))
        #expect(log.entries == ["first", "broken", "last saw [7]"])
        #expect(report.handled == 2)
        #expect(report.value == [7])
        let failure = try #require(report.failures.first)
        #expect(report.failures.count == 1)
        #expect(failure.handler == broken)
        #expect(failure.event == "work")
        #expect(failure.reason.contains("boom at the middle"))
        #expect(!failure.timedOut)
        let calls = reported.withLock { $0 }
        #expect(calls.count == 1)
        #expect(calls.first?.handler == broken)
    }

    @Test("failures of on_error handlers are recorded but not reported, so errors cannot loop")
    func errorHandlersNotReported() async {
        let bus = EventBus()
        let reports = Counter()
        bus.onFailure { _ in reports.increment() }
        bus.on(BuiltInEvent.error) { _ in throw TestError("the error handler failed") }
        bus.on("other") { _ in throw TestError("an ordinary failure") }

        let errorReport = await bus.dispatch(event(BuiltInEvent.error))
        #expect(errorReport.failures.count == 1)
        #expect(reports.value == 0)

        _ = await bus.dispatch(event("other"))  // proves the reporter is wired up at all
        #expect(reports.value == 1)
    }

    @Test("a handler exceeding its timeout is cancelled and recorded as timed out, and the chain goes on")
    func handlerTimeout() async throws {
        let bus = EventBus()
        let log = EventLog()
        let slow = bus.on("slow", priority: 1, timeout: .milliseconds(100)) { _ in
            do { try await Task.sleep(for: .seconds(600)) } catch {
                log.append("slow cancelled")
                throw error
            }
            log.append("slow finished")
            return .pass([1] as [UInt8])
        }
        bus.on("slow") { _ in log.append("next ran"); return .next }

        let clock = ContinuousClock()
        let start = clock.now
        let report = await bus.dispatch(event("slow"))
        let elapsed = clock.now - start

        #expect(elapsed < .seconds(60), "the chain went on without waiting for the handler")
        let failure = try #require(report.failures.first)
        #expect(failure.timedOut)
        #expect(failure.handler == slow)
        #expect(report.handled == 1)
        #expect(report.value == nil)
        #expect(log.entries.contains("next ran"))
        // The abandoned handler was told to stop (it may notice a moment after the dispatch returned).
        let deadline = clock.now + .seconds(30)
        while !log.entries.contains("slow cancelled") && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(Set(log.entries) == ["next ran", "slow cancelled"])
    }

    @Test("a handler that ignores cancellation still cannot hold the chain past its timeout")
    func uncooperativeTimeout() async throws {
        let bus = EventBus(defaultTimeout: .milliseconds(100))
        let gate = Gate()
        bus.on("stuck") { _ in
            await gate.wait()  // not cancellable
            return .next
        }
        // Should the bus wait for the handler anyway, open the gate late so that the test fails instead of hanging.
        let safety = Task {
            try? await Task.sleep(for: .seconds(120))
            gate.open()
        }
        defer {
            gate.open()
            safety.cancel()
        }

        let clock = ContinuousClock()
        let start = clock.now
        let report = await bus.dispatch(event("stuck"))
        #expect(clock.now - start < .seconds(60), "the chain went on without the stuck handler")
        #expect(report.failures.first?.timedOut == true)
    }

    @Test("cancelling the dispatching task cancels the running handler and skips the rest of the chain")
    func dispatchCancellation() async {
        let bus = EventBus()
        let log = EventLog()
        let reports = Counter()
        bus.onFailure { _ in reports.increment() }
        bus.on("long", priority: 1) { _ in
            log.append("started")
            try await Task.sleep(for: .seconds(10))
            return .next
        }
        bus.on("long") { _ in log.append("later"); return .next }

        let dispatching = Task { await bus.dispatch(event("long")) }
        while log.entries.isEmpty { try? await Task.sleep(for: .milliseconds(5)) }
        dispatching.cancel()
        let report = await dispatching.value
        #expect(log.entries == ["started"])
        #expect(report.failures.count == 1)
        #expect(report.failures.first?.timedOut == false)
        #expect(!report.unhandled)
        #expect(reports.value == 0)
    }

    @Test("off removes a handler, removing it twice is harmless, and a dispatch in progress skips it")
    func offRemoves() async {
        let bus = EventBus()
        let log = EventLog()
        let token = bus.on("bye") { _ in log.append("removed one ran"); return .next }
        #expect(bus.handlerCount(for: "bye") == 1)
        bus.off(token)
        bus.off(token)
        #expect(bus.handlerCount(for: "bye") == 0)
        let report = await bus.dispatch(event("bye"))
        #expect(log.entries.isEmpty)
        #expect(report.unhandled)

        let later = Mutex<HandlerToken?>(nil)
        bus.on("race", priority: 1) { _ in
            if let token = later.withLock({ $0 }) { bus.off(token) }
            return .next
        }
        later.withLock { $0 = bus.on("race") { _ in log.append("skipped one ran"); return .next } }
        let raceReport = await bus.dispatch(event("race"))
        #expect(log.entries.isEmpty)
        #expect(raceReport.handled == 1)
    }

    @Test("an event without handlers counts as unhandled and runs the latest unhandled hook")
    func unhandledHook() async {
        let bus = EventBus()
        let replaced = EventLog()
        let seen = EventLog()
        bus.onUnhandled { event in replaced.append(event.name) }
        bus.onUnhandled { event in seen.append("\(event.name) from \(event.source)") }
        bus.on("handled") { _ in .next }

        let first = await bus.dispatch(event("nobody_listens"))
        let second = await bus.dispatch(event(BuiltInEvent.resourceLow))
        let handled = await bus.dispatch(event("handled"))

        #expect(first.unhandled && second.unhandled)
        #expect(!handled.unhandled)
        #expect(first.handled == 0)
        #expect(bus.unhandledCount == 2)
        #expect(seen.entries == ["nobody_listens from tester", "on_resource_low from tester"])
        #expect(replaced.entries.isEmpty)
    }

    @Test("handlerCount counts registrations per event, and invalid names register nothing")
    func handlerCounts() async {
        let bus = EventBus()
        #expect(bus.handlerCount(for: BuiltInEvent.taskStart) == 0)
        bus.on(BuiltInEvent.taskStart) { _ in .next }
        bus.on(BuiltInEvent.taskStart, priority: 4) { _ in .next }
        bus.on(BuiltInEvent.taskComplete) { _ in .next }
        #expect(bus.handlerCount(for: BuiltInEvent.taskStart) == 2)
        #expect(bus.handlerCount(for: BuiltInEvent.taskComplete) == 1)
        #expect(bus.handlerCount(for: BuiltInEvent.helpNeeded) == 0)

        let invalid = bus.on("task.start") { _ in .next }
        #expect(bus.handlerCount(for: "task.start") == 0)
        #expect(invalid.event == "task.start")
        #expect(await bus.dispatch(event("task.start")).unhandled)
        bus.off(invalid)  // harmless
    }

    @Test("event names are 1 to 64 of A-Z a-z 0-9 _ - and nothing else")
    func eventNames() {
        for name in ["on_task_start", "A-b_9", String(repeating: "x", count: 64)] {
            #expect(EventBus.isValidEventName(name), "\(name)")
        }
        for name in ["", "a.b", "with space", "ümlaut", String(repeating: "x", count: 65), "a/b"] {
            #expect(!EventBus.isValidEventName(name), "\(name)")
        }
        #expect(BuiltInEvent.deadlineApproaching == "on_deadline_approaching")
        #expect(EventBus.isValidEventName(BuiltInEvent.deadlineApproaching))
    }
}

private func event(_ name: String) -> EventContext {
    EventContext(name: name, source: "tester", data: Array("{}".utf8))
}

private struct Score: Codable, Equatable, Sendable {
    var points: Int
}

private struct TestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private final class EventLog: Sendable {
    private let storage = Mutex<[String]>([])
    func append(_ entry: String) { storage.withLock { $0.append(entry) } }
    var entries: [String] { storage.withLock { $0 } }
}

private final class Counter: Sendable {
    private let storage = Mutex(0)
    func increment() { storage.withLock { $0 += 1 } }
    var value: Int { storage.withLock { $0 } }
}

/// A wait that ignores task cancellation, like a handler stuck on something that never checks it.
private final class Gate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func wait() async {
        await withCheckedContinuation { continuation in
            let proceed = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if proceed { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }
}

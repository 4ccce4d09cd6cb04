import Foundation
import Parley
import ParleyWire
import Testing
import ZeroMQ

extension BrokerIntegration {
    /// The remote abort of issue 12: a peer with ZMTP heartbeats on floods messages until the server stops reading
    /// its connection (the inbound queue is full), then resets the connection. A stock libzmq 4.3.4 decodes a PING
    /// from the bytes it had buffered, tries to answer it on the dead connection and aborts (`!_io_error`); the
    /// libzmq Parley builds (deps/libzmq) drops the connection instead.
    @Suite("Remote abort")
    struct RemoteAbortTests {
        /// Rounds per process; the stock library aborted the broker and the gateway within 3–11 rounds of such floods.
        static let rounds = 20
        /// An aborted process exits at once instead of spending seconds printing a backtrace.
        static let noBacktrace = ["SWIFT_BACKTRACE": "enable=no"]

        @Test("the libzmq the programs link carries the io-error guard")
        func linkedLibraryIsGuarded() {
            #expect(ZeroMQ.hasIOErrorGuard, "build with `make`: \(ZeroMQ.unguardedWarning ?? "")")
        }

        @Test("a broker survives 20 heartbeat floods ended by a connection reset, and keeps serving")
        func brokerSurvivesResetFloods() async throws {
            let broker = try await BrokerProcess(environment: Self.noBacktrace)
            defer { broker.stop() }
            try await survive(rounds: Self.rounds, endpoint: broker.endpoint, process: broker.child)
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint, timeout: .seconds(5))
            #expect(status.pending == 0)
            let echo = try await connectedAgent("echo", broker: broker) { request in .answer(bytes: request.body) }
            let asker = try await connectedAgent("asker", broker: broker)
            let outcome = await asker.send(.help, to: .agent("echo"), body: Array("still here?".utf8), timeout: .seconds(5))
            #expect(outcome.status == .ok && outcome.text == "still here?")
            withExtendedLifetime(echo) {}
        }

        @Test("a gateway survives 20 heartbeat floods ended by a connection reset on its front end")
        func gatewaySurvivesResetFloods() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: folder, environment: Self.noBacktrace)
            defer { gateway.stop() }
            try await survive(rounds: Self.rounds, endpoint: gateway.endpoint, process: gateway.child)
        }

        /// Floods `endpoint` `rounds` times from three fresh connections at once and expects `process` alive after each.
        private func survive(rounds: Int, endpoint: String, process: TestProcess) async throws {
            for round in 1...rounds {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<3 { group.addTask { try await ResetFlood.run(endpoint: endpoint, duration: .milliseconds(500)) } }
                    try await group.waitForAll()
                }
                try await Task.sleep(for: .milliseconds(100))
                #expect(process.isRunning, "the process aborted after reset flood \(round)")
                guard process.isRunning else { return }
            }
        }
    }
}

/// One attack: a DEALER with a 1 ms ZMTP heartbeat (and a timeout that never fires) that never reads its replies
/// (RCVHWM 1), sends HEARTBEAT headers as fast as it can for `duration`, then closes with unread data, which makes
/// the kernel reset the connection. Runs on its own thread: the sends block.
enum ResetFlood {
    static func run(endpoint: String, duration: Duration) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            Thread.detachNewThread {
                continuation.resume(with: Result { try flood(endpoint: endpoint, duration: duration) })
            }
        }
    }

    private static func flood(endpoint: String, duration: Duration) throws {
        let context = try Context()
        let socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setHeartbeat(intervalMilliseconds: 1, timeoutMilliseconds: 600_000)
        try socket.setReceiveHighWaterMark(1)
        try socket.setSendHighWaterMark(0)
        try socket.connect(endpoint)
        let heartbeat = HeaderEncoder.encode(.heartbeat)
        let end = ContinuousClock.now + duration
        try heartbeat.withUnsafeBytes { frame in
            while ContinuousClock.now < end {
                for _ in 0..<1_000 { _ = try socket.send(frame, dontWait: true) }
            }
        }
        socket.close()
    }
}

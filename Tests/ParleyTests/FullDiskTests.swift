import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("A full data directory")
    struct FullDiskTests {
        @Test("on a full data directory publishes get UNAVAILABLE while requests are served, also after a restart on it; publishing resumes with room")
        func fullDataDirectory() async throws {
            let folder = try TemporaryFolder()
            let disk = try SmallFileSystem(at: folder.path + "/data", megabytes: 4)
            defer { disk.unmount() }
            // Another file takes most of it, so that the journal fills the rest after a few events.
            let filler = disk.path + "/filler"
            try Data(count: 3 << 20).write(to: URL(fileURLWithPath: filler))
            let metricsPort = try freePort()
            let first = try await BrokerProcess(["--data-dir", disk.path, "--metrics-port", "\(metricsPort)", "--sample-ms", "100"])
            let helper = try await connectedAgent("helper", broker: first, handler: EchoRecorder().handler())
            let publisher = try await connectedAgent("game", broker: first)
            let event = [UInt8](repeating: 7, count: 64 << 10)
            var confirmed: [UInt64] = []
            var refusal: ParleyError?
            while refusal == nil, confirmed.count < 100 {
                do { confirmed.append(try await publisher.publish("on_tick", data: event).sequence) } catch let error as ParleyError { refusal = error }
            }
            #expect(!confirmed.isEmpty && confirmed == Array(1...UInt64(confirmed.count)))
            try expectFullDiskRefusal(refusal)
            let echoed: [String: Int] = try await publisher.requestHelp(to: .agent("helper"), problem: ["n": 1])
            #expect(echoed == ["n": 1])
            try await waitUntil("the metric says the journal is full") {
                try await scrape("http://127.0.0.1:\(metricsPort)/metrics").value("parley_broker_journal_full") == 1
            }
            await first.child.stop()
            await publisher.close(); await helper.close()

            // Started again on the full disk: it starts, serves requests and refuses publishes.
            let second = try await BrokerProcess(["--data-dir", disk.path], captureStandardError: true)
            let helperAgain = try await connectedAgent("helper", broker: second, handler: EchoRecorder().handler())
            let publisherAgain = try await connectedAgent("game", broker: second)
            let echoedAgain: [String: Int] = try await publisherAgain.requestHelp(to: .agent("helper"), problem: ["n": 2])
            #expect(echoedAgain == ["n": 2])
            do {
                _ = try await publisherAgain.publish("on_tick", data: event)
                Issue.record("a publish on a full disk was confirmed")
            } catch let error as ParleyError { try expectFullDiskRefusal(error) }

            // Room again: publishing resumes by itself, with the next sequence, and nothing confirmed was lost.
            try FileManager.default.removeItem(atPath: filler)
            let resumed = try await publisherAgain.publish("on_tick", data: event).sequence
            #expect(resumed == UInt64(confirmed.count) + 1)
            let watcher = try await connectedAgent("watcher", broker: second)
            var received: [UInt64] = []
            for await notice in try watcher.subscribe(to: "game", from: .sequence(1)) {
                guard case .event(let replayed) = notice else { Issue.record("unexpected \(notice)"); break }
                received.append(replayed.sequence)
                if received.count > confirmed.count { break }
            }
            #expect(received == confirmed + [resumed])
            await watcher.close(); await publisherAgain.close(); await helperAgain.close()
            await second.child.stop()
            let lines = second.child.stderrLines
            #expect(lines.contains { $0.contains("event=journal_not_compacted") }, "the restart had no room to compact: \(lines)")
            #expect(lines.filter { $0.contains("event=journal_full") }.count == 1, "\(lines)")
            #expect(lines.filter { $0.contains("event=journal_resumed") }.count == 1, "\(lines)")
        }

        private func expectFullDiskRefusal(_ error: ParleyError?, sourceLocation: SourceLocation = #_sourceLocation) throws {
            guard case .outcome(let status, let reason)? = error else { throw TestFailure("no refusal: \(String(describing: error))") }
            #expect(status == .unavailable, sourceLocation: sourceLocation)
            #expect(reason.contains("data directory is full"), "\(reason)", sourceLocation: sourceLocation)
        }
    }
}

/// A tmpfs of a few MiB mounted for a test (the tests run as root), so that a data directory can be really full.
struct SmallFileSystem {
    let path: String

    init(at path: String, megabytes: Int) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        guard mount("tmpfs", path, "tmpfs", 0, "size=\(megabytes)m") == 0 else {
            throw TestFailure("cannot mount a tmpfs on \(path): \(String(cString: strerror(errno))); these tests need root")
        }
    }

    /// Detaches it (lazily: a process still holding a file there does not keep it mounted).
    func unmount() {
        _ = umount2(path, Int32(MNT_DETACH))
    }
}

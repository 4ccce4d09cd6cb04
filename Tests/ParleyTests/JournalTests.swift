import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    @Suite("Event journal")
    struct JournalTests {
        @Test("after kill -9 during a stream of confirmed events, every confirmed event is delivered in order and no sequence is reused")
        func survivesKill() async throws {
            let folder = try TemporaryFolder()
            let first = try await BrokerProcess(["--data-dir", folder.path])
            let publisher = try await connectedAgent("game", broker: first)
            // A stream of confirmed events, with the broker killed in the middle of it.
            let confirmed = Task {
                var sequences: [UInt64] = []
                for index in 0..<10_000 {
                    guard let receipt = try? await publisher.publish("on_task_complete", ["n": index]) else { break }
                    sequences.append(receipt.sequence)
                }
                return sequences
            }
            try await waitUntil("a few hundred events are confirmed") {
                (try? await BrokerStatus.fetch(endpoint: first.endpoint).eventsPublished) ?? 0 >= 300
            }
            await first.child.stop(signal: SIGKILL)
            await publisher.close()
            let sequences = await confirmed.value
            #expect(sequences.count >= 300)
            #expect(sequences == Array(1...UInt64(sequences.count)))

            let second = try await BrokerProcess(["--data-dir", folder.path])
            defer { second.stop() }
            let watcher = try await connectedAgent("watcher", broker: second)
            let subscription = try watcher.subscribe(to: "game", from: .sequence(1))
            var received: [UInt64] = []
            for await notice in subscription {
                guard case .event(let event) = notice else { Issue.record("unexpected \(notice)"); break }
                received.append(event.sequence)
                if received.count >= sequences.count { break }
            }
            #expect(received == sequences)
            let again = try await connectedAgent("game", broker: second)
            let next = try await again.publish("on_task_complete", ["n": -1]).sequence
            #expect(next > sequences.last!, "sequence \(next) must not reuse one confirmed before the kill")
            await again.close(); await watcher.close()
        }

        @Test("an agent's topics whose events all left retention are forgotten at its quota, in memory and in the journal; sequences never restart")
        func forgetsAbandonedTopics() async throws {
            let folder = try TemporaryFolder()
            let settings = ["--data-dir", folder.path, "--max-topics-per-agent", "2", "--retention-ms", "300"]
            let first = try await BrokerProcess(settings)
            let flooder = try await connectedAgent("flooder", broker: first)
            for index in 1...3 { #expect(try await flooder.publish("a", ["n": index]).sequence == UInt64(index)) }
            #expect(try await flooder.publish("b", ["n": 1]).sequence == 1)
            // At its quota: a third topic is refused until a and b are forgotten (their events age out, their BEACONs end).
            await #expect(throws: ParleyError.self) { try await flooder.publish("c", ["n": 1]) }
            try await waitUntil("a and b are forgotten") { try await BrokerStatus.fetch(endpoint: first.endpoint).topics == 0 }
            #expect(try await flooder.publish("c", ["n": 1]).sequence == 4, "a new topic starts above the forgotten a's #3")
            #expect(try await flooder.publish("a", ["n": 4]).sequence == 4, "a opened again does not reuse #1…#3")
            await flooder.close()
            await first.child.stop()
            try await Task.sleep(for: .milliseconds(500))  // c and a age out before the restart

            // Loaded back, the expired topics are forgotten before the journal is compacted: their records are gone.
            let second = try await BrokerProcess(settings)
            defer { second.stop() }
            #expect(try await BrokerStatus.fetch(endpoint: second.endpoint).topics == 0)
            let journal = try String(decoding: Data(contentsOf: URL(fileURLWithPath: folder.path + "/events.journal")), as: UTF8.self)
            #expect(!journal.contains("callback.flooder."), "events of forgotten topics are still in the journal")
            let again = try await connectedAgent("flooder", broker: second)
            #expect(try await again.publish("b", ["n": 2]).sequence == 5, "the floor (#4) came back from the journal")
            await again.close()
        }

        /// 320 events of 1,000,000 bytes on one topic, journaled without compaction (as a long run leaves it), of
        /// which `retention-bytes 8MiB` retains the last 8.
        static let journaledEvents: UInt64 = 320
        static let retainedEvents: UInt64 = 8
        static let retention = ["--retention-bytes", "8MiB"]

        @Test("the ready line, /health and a REPLAY right after it see the whole journal loaded and compacted")
        func readyOnlyOnceLoaded() async throws {
            let folder = try TemporaryFolder()
            try writeJournal(in: folder, events: Self.journaledEvents)
            let metricsPort = try freePort()
            let broker = try await BrokerProcess(["--data-dir", folder.path, "--metrics-port", "\(metricsPort)"] + Self.retention)
            defer { broker.stop() }
            // No waiting from here on: all of this holds the moment the ready line is out.
            let health = try await scrape("http://127.0.0.1:\(metricsPort)/health")
            #expect(health.status == 200, "\(health.body)")
            let journal = try FileManager.default.attributesOfItem(atPath: folder.path + "/events.journal")[.size] as! Int
            #expect(journal < Int(Self.retainedEvents + 1) * 1_000_100, "journal of \(journal) bytes is not compacted yet")
            let raw = try RawAgent(endpoint: broker.endpoint)
            defer { raw.close() }
            try await raw.send(.replay(Replay(selector: .topic(Self.topic), from: 1)))
            let replies = try await raw.next(count: Int(Self.retainedEvents) + 2, timeout: .seconds(30))
            let firstKept = Self.journaledEvents - Self.retainedEvents + 1
            guard replies.count == Int(Self.retainedEvents) + 2 else { throw TestFailure("replay answered \(replies.map(\.header))") }
            #expect(replies.first?.header == .gap(Gap(topic: Self.topic, from: 1, to: firstKept - 1)))
            #expect(replies.dropFirst().dropLast().map { reply -> UInt64 in
                guard case .event(let event) = reply.header else { return 0 }
                return reply.body.count == 1_000_000 ? event.sequence : 0
            } == Array(firstKept...Self.journaledEvents))
            guard case .replayEnd(let end)? = replies.last?.header else { throw TestFailure("no REPLAY_END: \(replies.map(\.header))") }
            #expect(end.events == UInt32(Self.retainedEvents))
        }

        @Test("a record of a kind a later version writes is skipped whole at start-up: the events around it load, none is cut off")
        func skipsUnknownRecordKinds() async throws {
            let folder = try TemporaryFolder()
            let later: [UInt8] = bigEndian(1 + 12) + [0x63] + Array("from later on".utf8.prefix(12))
            try writeJournal(in: folder, events: 3, bodyBytes: 10) { $0 == 1 ? later : [] }
            let broker = try await BrokerProcess(["--data-dir", folder.path])
            defer { broker.stop() }
            let raw = try RawAgent(endpoint: broker.endpoint)
            defer { raw.close() }
            try await raw.send(.replay(Replay(selector: .topic(Self.topic), from: 1)))
            let replies = try await raw.next(count: 4, timeout: .seconds(30))
            #expect(replies.compactMap { reply -> UInt64? in
                if case .event(let event) = reply.header { event.sequence } else { nil }
            } == [1, 2, 3], "\(replies.map(\.header))")
        }

        @Test("start-up streams the journal: peak RSS stays within what is retained + 64 MiB, not the journal's size")
        func startsInBoundedMemory() async throws {
            let folder = try TemporaryFolder()
            try writeJournal(in: folder, events: Self.journaledEvents)
            let broker = try await BrokerProcess(["--data-dir", folder.path] + Self.retention)
            defer { broker.stop() }
            _ = try await BrokerStatus.fetch(endpoint: broker.endpoint)  // answered once the journal is loaded, before or after `ready`
            let retainedMegabytes = Int(Self.retainedEvents) * 1_000_000 / 1_048_576 + 1
            try broker.checkPeakMemory(under: retainedMegabytes + 64, "start-up on a \(Self.journaledEvents) MB journal retaining \(retainedMegabytes) MB")
        }

        @Test("while running, the journal is compacted: 200 MB of events retaining 8 stay under 2 × retained + 64 MiB on disk and load back")
        func compactsWhileRunning() async throws {
            let folder = try TemporaryFolder()
            let journalPath = folder.path + "/events.journal"
            let first = try await BrokerProcess(["--data-dir", folder.path] + Self.retention, captureStandardError: true)
            let publisher = try await connectedAgent("game", broker: first)
            let body = [UInt8](repeating: 0x2A, count: 1_000_000)
            let published: UInt64 = 200
            for _ in 1...published { _ = try await publisher.publish("on_tick", data: body, contentType: "application/octet-stream") }
            let retainedBytes = Int(Self.retainedEvents) * 1_000_000
            let bound = 2 * retainedBytes + 64 << 20
            try await waitUntil("the journal is compacted to under \(bound) bytes") {
                let size = try FileManager.default.attributesOfItem(atPath: journalPath)[.size] as! Int
                return size <= bound
            }
            let logs = first.child.stdoutLines + first.child.stderrLines
            #expect(logs.contains { $0.contains("journal_compacted") }, "no compaction logged: \(logs.suffix(5))")
            #expect(!FileManager.default.fileExists(atPath: journalPath + ".compacting"))
            await publisher.close()
            await first.child.stop()

            // The compacted journal loads back: the retained events, a GAP before them, and the sequence goes on.
            let second = try await BrokerProcess(["--data-dir", folder.path] + Self.retention)
            defer { second.stop() }
            let raw = try RawAgent(endpoint: second.endpoint)
            defer { raw.close() }
            try await raw.send(.replay(Replay(selector: .topic(Self.topic), from: 1)))
            let replies = try await raw.next(count: Int(Self.retainedEvents) + 2, timeout: .seconds(30))
            let firstKept = published - Self.retainedEvents + 1
            #expect(replies.first?.header == .gap(Gap(topic: Self.topic, from: 1, to: firstKept - 1)))
            #expect(replies.dropFirst().dropLast().map { reply -> UInt64 in
                guard case .event(let event) = reply.header else { return 0 }
                return reply.body == body ? event.sequence : 0
            } == Array(firstKept...published))
            let again = try await connectedAgent("game", broker: second)
            #expect(try await again.publish("on_tick", data: [1], contentType: "application/octet-stream").sequence == published + 1)
            await again.close()
        }

        @Test("kill -9 while the journal is being compacted: the retained confirmed events load back in order, no sequence is reused")
        func killDuringCompaction() async throws {
            let folder = try TemporaryFolder()
            let first = try await BrokerProcess(["--data-dir", folder.path] + Self.retention, captureStandardError: true)
            let publisher = try await connectedAgent("game", broker: first)
            let body = [UInt8](repeating: 0x2A, count: 1_000_000)
            let confirmed = Task {
                var last: UInt64 = 0
                for _ in 0..<2_000 {
                    guard let receipt = try? await publisher.publish("on_tick", data: body, contentType: "application/octet-stream") else { break }
                    last = receipt.sequence
                }
                return last
            }
            try await waitUntil("a compaction has started") {
                (first.child.stdoutLines + first.child.stderrLines).contains { $0.contains("journal_compaction_started") }
            }
            await first.child.stop(signal: SIGKILL)
            await publisher.close()
            let lastConfirmed = await confirmed.value

            let second = try await BrokerProcess(["--data-dir", folder.path] + Self.retention)
            defer { second.stop() }
            let raw = try RawAgent(endpoint: second.endpoint)
            defer { raw.close() }
            try await raw.send(.replay(Replay(selector: .topic(Self.topic), from: 1)))
            var sequences: [UInt64] = []
            while true {
                guard let reply = try await raw.next(count: 1, timeout: .seconds(30)).first else { throw TestFailure("the replay did not end") }
                if case .event(let event) = reply.header {
                    #expect(reply.body == body)
                    sequences.append(event.sequence)
                }
                if case .replayEnd = reply.header { break }
            }
            guard let newest = sequences.last else { throw TestFailure("no event came back; \(lastConfirmed) were confirmed") }
            #expect(newest >= lastConfirmed, "the newest confirmed event \(lastConfirmed) is missing; the journal ends at \(newest)")
            #expect(sequences == Array((newest - UInt64(sequences.count) + 1)...newest), "retained events in order, no holes")
            #expect(UInt64(sequences.count) == min(Self.retainedEvents, newest))
            let again = try await connectedAgent("game", broker: second)
            #expect(try await again.publish("on_tick", data: [1], contentType: "application/octet-stream").sequence == newest + 1)
            await again.close()
        }

        @Test("a second broker on the same data directory is refused, and names why")
        func oneBrokerPerDirectory() async throws {
            let folder = try TemporaryFolder()
            let first = try await BrokerProcess(["--data-dir", folder.path])
            defer { first.stop() }
            let second = try await runToExit("parley-broker", ["--endpoint", "tcp://127.0.0.1:*", "--events-endpoint", "tcp://127.0.0.1:*",
                                                                "--data-dir", folder.path], timeout: .seconds(10), standardError: true)
            #expect(second.status != 0)
            #expect(second.output.contains("another broker uses this data directory"), "\(second.output)")
        }

        private func bigEndian(_ value: UInt32) -> [UInt8] {
            withUnsafeBytes(of: value.bigEndian) { Array($0) }
        }

        static let topic = Topic(agent: "game", event: "on_tick")!

        /// Writes `events` events of `bodyBytes` bytes on `topic` to the folder's journal, in the record format of
        /// docs/PROTOCOL.md §7.10, stamped now; `after` gives raw bytes to write after an event.
        private func writeJournal(in folder: TemporaryFolder, events: UInt64, bodyBytes: Int = 1_000_000,
                                  after: (UInt64) -> [UInt8] = { _ in [] }) throws {
            guard FileManager.default.createFile(atPath: folder.path + "/events.journal", contents: nil) else {
                throw TestFailure("cannot create \(folder.path)/events.journal")
            }
            let file = try FileHandle(forWritingTo: URL(fileURLWithPath: folder.path + "/events.journal"))
            defer { try? file.close() }
            let body = [UInt8](repeating: 0x2A, count: bodyBytes)
            let now = UInt64(Date().timeIntervalSince1970 * 1_000)
            for sequence in 1...events {
                let header = HeaderEncoder.encode(.event(EventHeader(sequence: sequence, timestamp: now, eventID: .random(),
                                                                     topic: Self.topic, contentType: "application/octet-stream")))
                var record = bigEndian(UInt32(1 + 4 + header.count + body.count))
                record.append(1)  // kind: event
                record += bigEndian(UInt32(header.count))
                try file.write(contentsOf: record + header + body + after(sequence))
            }
        }
    }
}

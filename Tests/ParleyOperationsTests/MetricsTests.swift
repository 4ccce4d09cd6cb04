import Foundation
import Logging
import ParleyOperations
import ParleyStatistics
import Testing

@Suite("Metrics export")
struct MetricsTests {
    /// The value of the sample line starting with `prefix` (name and labels) in a Prometheus exposition.
    private func value(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last!) }
    }

    @Test("a reactor's latency histogram is replayed into the Prometheus histogram exactly: buckets, count and sum")
    func histogramReplay() {
        let endpoint = MetricsEndpoint(program: "test")
        let mirror = HistogramMirror("test_duration_seconds", factory: endpoint.factory)
        var histogram = LatencyHistogram()
        let samples: [UInt64] = [50_000, 99_999, 100_000, 100_001, 700_000, 999_999, 3_000_000, 3_000_001, 3_000_002, 75_000_000_000]
        for sample in samples.prefix(4) { histogram.record(nanoseconds: sample) }
        mirror.update(to: histogram)
        for sample in samples.dropFirst(4) { histogram.record(nanoseconds: sample) }
        mirror.update(to: histogram)
        mirror.update(to: histogram)  // nothing new: nothing replayed twice
        let text = String(decoding: endpoint.exposition().body, as: UTF8.self)
        #expect(value(text, "test_duration_seconds_count") == Double(samples.count))
        #expect(value(text, #"test_duration_seconds_bucket{le="0.0001"}"#) == 3)  // 50 µs, 99.999 µs, exactly 100 µs
        #expect(value(text, #"test_duration_seconds_bucket{le="0.00025"}"#) == 4)
        #expect(value(text, #"test_duration_seconds_bucket{le="0.001"}"#) == 6)
        #expect(value(text, #"test_duration_seconds_bucket{le="0.005"}"#) == 9)
        #expect(value(text, #"test_duration_seconds_bucket{le="60.0"}"#) == 9)
        #expect(value(text, #"test_duration_seconds_bucket{le="+Inf"}"#) == 10)
        let sum = Double(samples.reduce(0, +)) / 1e9
        #expect(abs((value(text, "test_duration_seconds_sum") ?? 0) - sum) < 1e-9)
    }

    @Test("a counter mirror adds only the increase of the total it follows")
    func counterMirror() {
        let endpoint = MetricsEndpoint(program: "test")
        let mirror = CounterMirror("test_total", [("outcome", "OK")], factory: endpoint.factory)
        for total: UInt64 in [0, 3, 3, 10] { mirror.update(to: total) }
        let text = String(decoding: endpoint.exposition().body, as: UTF8.self)
        #expect(value(text, #"test_total{outcome="OK"}"#) == 10)
        #expect(text.contains("# TYPE test_total counter"))
    }

    @Test("the process figures come from /proc/self: memory, descriptors, threads, uptime")
    func processFigures() {
        let statistics = ProcessStatistics.current()
        #expect(statistics.residentBytes > 1 << 20)
        #expect(statistics.virtualBytes >= statistics.residentBytes)
        #expect(statistics.openDescriptors >= 3)
        #expect(statistics.maxDescriptors >= statistics.openDescriptors)
        #expect(statistics.threads >= 1)
        let endpoint = MetricsEndpoint(program: "test")
        let response = endpoint.exposition()
        #expect(response.status == 200)
        #expect(response.contentType.hasPrefix("text/plain; version=0.0.4"))
        let text = String(decoding: response.body, as: UTF8.self)
        for name in ["process_resident_memory_bytes", "process_open_fds", "process_max_fds", "process_start_time_seconds",
                     "process_cpu_seconds_total", "parley_uptime_seconds", "process_threads"] {
            #expect(text.contains("\n\(name) ") || text.hasPrefix("\(name) "), "\(name)")
        }
        #expect(text.contains(#"\#nparley_build_info{program="test",version=""#))  // VersionTests checks the value
    }
}

@Suite("JSON log lines")
struct JSONLogTests {
    @Test("each log call is one JSON object on one line: time, level, logger, message, then the metadata, typed")
    func oneObjectPerLine() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]) }
        var logger = Logger(label: "parley-test") { label in JSONLogHandler(label: label, level: .info, descriptor: ends[1]) }
        logger[metadataKey: "process"] = "test"
        logger.info("agent joined", metadata: ["event": "agent_joined", "agent": "echo \"1\"\n", "message": "shadowed"])
        logger.debug("not at this level")
        logger.notice("stopped", metadata: ["event": "stopped", "details": ["pending": "0", "list": ["a", "b"]],
                                            "pid": .stringConvertible(Int32(4242)), "sync": .stringConvertible(true),
                                            "huge": .stringConvertible(UInt64.max)])
        close(ends[1])
        let data = FileHandle(fileDescriptor: ends[0]).readDataToEndOfFile()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(first["level"] as? String == "info")
        #expect(first["logger"] as? String == "parley-test")
        #expect(first["message"] as? String == "agent joined")
        #expect(first["event"] as? String == "agent_joined")
        #expect(first["agent"] as? String == "echo \"1\"\n")
        #expect(first["_message"] as? String == "shadowed")
        #expect(first["process"] as? String == "test")
        let time = try #require(first["time"] as? String)
        #expect(time.count == 24 && time.hasSuffix("Z") && time.contains("T"))
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
        let details = try #require(second["details"] as? [String: Any])
        #expect(details["pending"] as? String == "0")
        #expect(details["list"] as? [String] == ["a", "b"])
        #expect(second["pid"] as? Int == 4242, "an integer is a JSON number, not a string")
        #expect(second["sync"] as? Bool == true)
        #expect(lines[1].contains(#""sync":true"#) && lines[1].contains(#""pid":4242"#))
        #expect(second["huge"] as? String == "18446744073709551615", "an integer beyond Int stays exact, as a string")
    }
}

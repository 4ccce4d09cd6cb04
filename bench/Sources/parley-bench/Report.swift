import Foundation

/// Prints results: one line per scenario for people, one JSON object per scenario with `--json`, a table at the end.
/// With `--json`, stdout carries only the JSON lines and everything for people goes to stderr.
struct Report {
    let json: Bool

    func human(_ line: String) {
        if json { emitError(line) } else { emitLine(line) }
    }

    func scenario(_ result: ScenarioResult) {
        let figures = result.figures
        var line = pad(result.kind.rawValue, 10) + " W=" + pad(String(result.window), 4)
            + leftPad(grouped(figures.rate), 10) + " rt/s"
            + "  p50 " + leftPad(micro(figures.p50_us), 7) + " µs"
            + "  p99 " + leftPad(micro(figures.p99_us), 7) + " µs"
            + "  p99.9 " + leftPad(micro(figures.p999_us), 7) + " µs"
        if result.kind == .helpRR, let ratio = result.ratio {
            line += "  ratio " + fixed(ratio, 2)
            if result.window == 1, let p99 = result.p99Ratio { line += " (p99 ×" + fixed(p99, 2) + ")" }
        }
        let cpu = result.cpu
        line += "  | cpu: \(result.kind == .forwarder ? "fwd" : "broker") \(percent(cpu.router))"
            + " (main thread \(percent(cpu.routerMain))), requester \(percent(cpu.requester)), responder \(percent(cpu.responder))"
            + ", softirq \(percent(cpu.interrupts))"
        if cpu.others > 0.15 { line += "  [NOISY: \(percent(cpu.others)) CPU outside the benchmark]" }
        if figures.failures > 0 || figures.unmatched > 0 {
            line += "  [\(figures.failures) failed, \(figures.unmatched) unmatched]"
        }
        human(line)
        if json { emitLine(jsonObject(result)) }
    }

    func table(_ results: [ScenarioResult]) {
        guard results.count > 1 else { return }
        human("")
        human("| scenario | in flight | round trips/s | p50 µs | p99 µs | p99.9 µs | rate vs forwarder | p99 vs forwarder |")
        human("|---|---:|---:|---:|---:|---:|---:|---:|")
        for result in results {
            let figures = result.figures
            let ratio = result.kind == .forwarder ? "1" : result.ratio.map { fixed($0, 2) } ?? "–"
            let p99 = result.kind == .forwarder ? "1" : result.p99Ratio.map { "×" + fixed($0, 2) } ?? "–"
            human("| \(result.kind.rawValue) | \(result.window) | \(grouped(figures.rate)) | \(micro(figures.p50_us)) | "
                  + "\(micro(figures.p99_us)) | \(micro(figures.p999_us)) | \(ratio) | \(p99) |")
        }
    }

    /// With several rounds: the median help-rr/forwarder ratios per window.
    func medians(_ results: [ScenarioResult]) {
        human("")
        var windows: [Int] = []
        for result in results where !windows.contains(result.window) { windows.append(result.window) }
        for window in windows {
            let pairs = results.filter { $0.window == window && $0.kind == .helpRR }
            let ratios = pairs.compactMap(\.ratio).sorted()
            let p99s = pairs.compactMap(\.p99Ratio).sorted()
            guard !ratios.isEmpty else { continue }
            var line = "W=\(window): median rate ratio \(fixed(median(ratios), 2)) over \(ratios.count) rounds "
                + "(min \(fixed(ratios.first!, 2)), max \(fixed(ratios.last!, 2)))"
            if !p99s.isEmpty { line += ", median p99 ×\(fixed(median(p99s), 2))" }
            human(line)
        }
    }

    private func jsonObject(_ result: ScenarioResult) -> String {
        let figures = result.figures
        let baselineRate = result.baseline.map { number($0.figures.rate) } ?? "null"
        let ratio = result.ratio.map(number) ?? "null"
        let p99Ratio = result.p99Ratio.map(number) ?? "null"
        return "{\"name\":\"\(result.name)\",\"scenario\":\"\(result.kind.rawValue)\",\"window\":\(result.window),"
            + "\"messages\":\(figures.messages),\"seconds\":\(number(figures.seconds)),\"rate\":\(number(figures.rate)),"
            + "\"p50_us\":\(number(figures.p50_us)),\"p99_us\":\(number(figures.p99_us)),\"p999_us\":\(number(figures.p999_us)),"
            + "\"max_us\":\(number(figures.max_us)),\"baseline_rate\":\(baselineRate),\"ratio\":\(ratio),"
            + "\"p99_ratio\":\(p99Ratio),\"failures\":\(figures.failures),"
            + "\"cpu_router\":\(number(result.cpu.router)),\"cpu_router_main_thread\":\(number(result.cpu.routerMain)),"
            + "\"cpu_requester\":\(number(result.cpu.requester)),\"cpu_responder\":\(number(result.cpu.responder)),"
            + "\"cpu_softirq\":\(number(result.cpu.interrupts)),\"cpu_others\":\(number(result.cpu.others))}"
    }
}

private func number(_ value: Double) -> String {
    value.isFinite ? String(format: "%.4f", value).replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression) : "null"
}

private func median(_ sorted: [Double]) -> Double {
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

private func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

private func micro(_ value: Double) -> String { String(format: "%.0f", value) }

private func percent(_ cores: Double) -> String { String(format: "%.0f%%", cores * 100) }

/// 281234.7 → "281,235".
private func grouped(_ value: Double) -> String {
    let digits = String(Int(value.rounded()))
    var out = ""
    for (index, character) in digits.reversed().enumerated() {
        if index > 0, index % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return String(out.reversed())
}

private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

private func leftPad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}

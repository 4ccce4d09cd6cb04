import Foundation
import ParleyWire

/// Prints results: one line per scenario for people (and one JSON object per scenario with `--json`), then a
/// Markdown table of every scenario and one of the goals; with several rounds, medians over the rounds.
/// With `--json`, stdout carries only the JSON lines and everything for people goes to stderr.
struct Report {
    let json: Bool

    func human(_ line: String) {
        if json { emitError(line) } else { emitLine(line) }
    }

    /// The line for one scenario; `earlier` holds the measurements of the same round so far (for goals).
    func scenario(_ result: Measurement, earlier: [Measurement]) {
        let goal = Goal.all.first { $0.scenario == result.name }
        let goalValue = goal.flatMap { evaluate($0, in: earlier + [result]) }
        human(line(for: result, goal: goal, goalValue: goalValue))
        if json { emitLine(jsonObject(result, goal: goal, goalValue: goalValue)) }
    }

    private func line(for result: Measurement, goal: Goal?, goalValue: Double?) -> String {
        var line = pad(result.name, 26) + " " + pad(result.spec.shape, 22)
        if let error = result.error {
            return line + " FAILED: " + error
        }
        let unit = result.spec.kind.isRequestReply ? "rt/s" : "ev/s"
        line += leftPad(grouped(result.rate), 10) + " \(unit)"
        let latency = result.latency
        line += "  p50 \(micro(latency.p50)) p90 \(micro(latency.p90)) p99 \(micro(latency.p99))"
            + " p99.9 \(micro(latency.p999)) max \(micro(latency.max)) µs"
        if let offered = result.offeredRate { line += "  (offered \(grouped(offered))/s, latency from intended send)" }
        if let publishRate = result.publishRate { line += "  published \(grouped(publishRate))/s" }
        if let loss = result.loss { line += "  loss \(loss)" }
        if let ratio = result.ratio, let baseline = result.baseline, !result.spec.kind.isBaseline {
            line += "  ×\(fixed(ratio, 2)) \(baseline.name)"
            if let p99 = result.p99Ratio { line += " (p99 ×\(fixed(p99, 2)))" }
        }
        if let goal, let goalValue {
            line += "  [\(goal.id) \(fixed(goalValue, 2)) vs \(goal.metric == .rate ? "≥" : "≤") \(format(goal.target)): "
                + "\(goal.passes(goalValue, loss: result.loss ?? 0) ? "met" : "MISSED")]"
        }
        line += "  | cpu: " + cpuSummary(result.cpu)
        if let all = result.cpuPerMessage, let measured = result.systemCPUPerMessage {
            line += "; per message \(fixed(all, 1)) µs in all, \(fixed(measured, 1)) µs in \(result.spec.kind.isBaseline ? "the baseline" : "Parley")"
        }
        if result.cpu.others > noisyThreshold { line += "  [NOISY: \(percent(result.cpu.others)) CPU outside the benchmark]" }
        if let problem = result.problem { line += "  [FAILED: \(problem)]" }
        return line
    }

    /// `parley-broker 95% (main 50%), requester 30%, responder 28%, softirq 12%`; groups of more than two
    /// like generators are summed: `10 subscribers max 9% total 85%`.
    private func cpuSummary(_ cpu: CPUFigures) -> String {
        var parts: [String] = []
        for process in cpu.processes where process.system {
            parts.append("\(process.label) \(percent(process.cores)) (busiest thread \(process.busiestThreadName) \(percent(process.busiestThread)))")
        }
        var groups: [(String, [ProcessCPU])] = []
        for process in cpu.generators {
            let base = process.label.split(separator: "-").first.map(String.init) ?? process.label
            if let index = groups.firstIndex(where: { $0.0 == base }) { groups[index].1.append(process) } else { groups.append((base, [process])) }
        }
        for (base, processes) in groups {
            if processes.count <= 2 {
                parts += processes.map { "\($0.label) \(percent($0.cores))" }
            } else {
                let busiest = processes.map(\.cores).max() ?? 0
                parts.append("\(processes.count) \(base)s max \(percent(busiest)) total \(percent(processes.reduce(0) { $0 + $1.cores }))")
            }
        }
        parts.append("softirq \(percent(cpu.softirq))")
        return parts.joined(separator: ", ")
    }

    /// The goal's ratio in one round, when both scenarios ran there.
    func evaluate(_ goal: Goal, in round: [Measurement]) -> Double? {
        guard let measured = round.last(where: { $0.name == goal.scenario && $0.error == nil }),
              let against = round.last(where: { $0.name == goal.against && $0.error == nil }) else { return nil }
        switch goal.metric {
        case .rate: return against.rate > 0 ? measured.rate / against.rate : nil
        case .p99: return against.latency.p99 > 0 ? measured.latency.p99 / against.latency.p99 : nil
        }
    }

    /// The Markdown table of every scenario: one round as it is, several as medians. The medians use only
    /// the quiet rounds (neither the scenario nor its baseline NOISY) when at least half of the rounds, and at
    /// least two, were quiet; otherwise every round. The `rounds` column says which.
    func table(_ results: [Measurement], rounds: Int) {
        guard !results.isEmpty else { return }
        human("")
        human(rounds > 1 ? "Medians of \(rounds) rounds (each figure its own median; over the quiet rounds only when at least half were quiet):" : "All scenarios:")
        human("")
        human("| scenario | shape | rate /s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | baseline | rate ratio | p99 ratio | loss | CPU µs/msg all (measured) | rounds |")
        human("|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
        var names: [String] = []
        for result in results where !names.contains(result.name) { names.append(result.name) }
        for name in names {
            let all = results.filter { $0.name == name && $0.error == nil }
            let quiet = all.filter(\.isQuiet)
            let useQuiet = quiet.count >= enoughQuietRounds(all.count)
            let runs = useQuiet ? quiet : all
            guard let first = runs.first else {
                human("| \(name) | | failed | | | | | | | | | | | |")
                continue
            }
            func med(_ value: (Measurement) -> Double?) -> Double? {
                let values = runs.compactMap(value).sorted()
                return values.isEmpty ? nil : median(values)
            }
            let rate = med { $0.rate } ?? 0
            let baseline = first.spec.kind.isBaseline ? "(itself)" : (first.baseline?.name ?? "–")
            let loss = first.loss == nil ? "" : String(all.reduce(UInt64(0)) { $0 + ($1.loss ?? 0) })
            let used = all.count == 1 ? (quiet.isEmpty ? "noisy" : "quiet")
                : useQuiet ? "\(quiet.count) quiet of \(all.count)" : "all \(all.count) (\(quiet.count) quiet)"
            human("| \(name) | \(first.spec.shape) | \(grouped(rate)) | \(micro(med { $0.latency.p50 } ?? 0)) | "
                  + "\(micro(med { $0.latency.p90 } ?? 0)) | \(micro(med { $0.latency.p99 } ?? 0)) | "
                  + "\(micro(med { $0.latency.p999 } ?? 0)) | \(micro(med { $0.latency.max } ?? 0)) | \(baseline) | "
                  + "\(med(\.ratio).map { fixed($0, 2) } ?? "–") | \(med(\.p99Ratio).map { "×" + fixed($0, 2) } ?? "–") | \(loss) | "
                  + "\(med(\.cpuPerMessage).map { fixed($0, 1) } ?? "–") (\(med(\.systemCPUPerMessage).map { fixed($0, 1) } ?? "–")) | \(used) |")
        }
    }

    /// The goals: the median over the rounds (the quiet ones only when enough were, as in `table`) and every
    /// round's value.
    func goals(_ results: [Measurement], rounds: Int) {
        human("")
        human("| goal | what | measured\(rounds > 1 ? " (median; per round, * = noisy)" : "") | met |")
        human("|---|---|---:|---|")
        for goal in Goal.all {
            var values: [(value: Double, quiet: Bool)] = []
            var loss: UInt64 = 0
            for round in 1...max(rounds, 1) {
                let inRound = results.filter { $0.round == round }
                if let value = evaluate(goal, in: inRound) {
                    let pair = inRound.filter { $0.name == goal.scenario || $0.name == goal.against }
                    values.append((value, pair.allSatisfy(\.isQuiet)))
                }
                loss += inRound.filter { $0.name == goal.scenario }.reduce(0) { $0 + ($1.loss ?? 0) }
            }
            guard !values.isEmpty else {
                human("| \(goal.id) | \(goal.text) | not run | – |")
                continue
            }
            let quiet = values.filter(\.quiet).map(\.value)
            let middle = median((quiet.count >= enoughQuietRounds(values.count) ? quiet : values.map(\.value)).sorted())
            var measured = fixed(middle, 2)
            if rounds > 1 { measured += "; " + values.map { fixed($0.value, 2) + ($0.quiet ? "" : "*") }.joined(separator: ", ") }
            if goal.zeroLoss { measured += ", loss \(loss)" }
            human("| \(goal.id) | \(goal.text) | \(measured) | \(goal.passes(middle, loss: loss) ? "yes" : "**no**") |")
        }
    }

    private func jsonObject(_ result: Measurement, goal: Goal?, goalValue: Double?) -> String {
        let spec = result.spec
        var fields: [(String, String)] = [
            ("name", quoted(result.name)), ("scenario", quoted(spec.kind.rawValue)), ("round", String(result.round)),
            ("body_bytes", String(spec.bodyBytes)),
        ]
        if spec.kind.isRequestReply {
            fields += [("window", spec.fixedRate ? "null" : String(spec.window)), ("requesters", String(spec.requesters)),
                       ("responders", String(spec.responders)), ("offered_rate", result.offeredRate.map(number) ?? "null")]
        } else {
            fields += [("subscribers", String(spec.subscribers)), ("publish_rate", result.publishRate.map(number) ?? "null")]
        }
        let latency = result.latency
        fields += [
            ("messages", String(result.messages)), ("seconds", number(result.seconds)), ("rate", number(result.rate)),
            ("p50_us", number(latency.p50)), ("p90_us", number(latency.p90)), ("p99_us", number(latency.p99)),
            ("p999_us", number(latency.p999)), ("max_us", number(latency.max)),
            ("baseline", result.baseline.map { quoted($0.name) } ?? "null"),
            ("baseline_rate", result.baseline.map { number($0.rate) } ?? "null"),
            ("ratio", result.ratio.map(number) ?? "null"), ("p99_ratio", result.p99Ratio.map(number) ?? "null"),
            ("failures", String(result.failures)), ("loss", result.loss.map { String($0) } ?? "null"),
            ("duplicates", String(result.duplicates)),
            ("ok", result.succeeded ? "true" : "false"), ("error", result.problem.map(quoted) ?? "null"),
        ]
        if let goal {
            fields += [("goal", quoted(goal.id)), ("goal_against", quoted(goal.against)), ("goal_metric", quoted(goal.metric.rawValue)),
                       ("goal_value", goalValue.map(number) ?? "null"), ("goal_target", number(goal.target)),
                       ("goal_met", goalValue.map { goal.passes($0, loss: result.loss ?? 0) ? "true" : "false" } ?? "null")]
        }
        let cpu = result.cpu
        fields += [
            ("cpu_us_per_message", result.cpuPerMessage.map(number) ?? "null"),
            ("cpu_system_us_per_message", result.systemCPUPerMessage.map(number) ?? "null"),
            ("cpu_system", number(cpu.system)), ("cpu_generators", number(cpu.generatorTotal)),
            ("cpu_busiest_generator", cpu.busiestGenerator.map { number($0.cores) } ?? "null"),
            ("cpu_busiest_generator_name", cpu.busiestGenerator.map { quoted($0.label) } ?? "null"),
            ("cpu_softirq", number(cpu.softirq)), ("cpu_others", number(cpu.others)), ("quiet", result.isQuiet ? "true" : "false"),
            ("cpu", "{" + cpu.processes.map { "\(quoted($0.label)):{\"cores\":\(number($0.cores)),\"busiest_thread\":\(number($0.busiestThread)),\"busiest_thread_name\":\(quoted($0.busiestThreadName))}" }
                .joined(separator: ",") + "}"),
        ]
        return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }
}

/// How many quiet rounds the medians need before they leave the noisy ones out.
private func enoughQuietRounds(_ total: Int) -> Int { max(2, (total + 1) / 2) }

/// `text` as a JSON string, escaped by the code base's one JSON writer.
private func quoted(_ text: String) -> String {
    var writer = JSONWriter(capacity: text.utf8.count + 2)
    writer.string(text)
    return String(decoding: writer.bytes, as: UTF8.self)
}

private func number(_ value: Double) -> String {
    value.isFinite ? String(format: "%.4f", value).replacingOccurrences(of: #"\.?0+$"#, with: "", options: .regularExpression) : "null"
}

func median(_ sorted: [Double]) -> Double {
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

private func fixed(_ value: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", value) }

private func micro(_ value: Double) -> String { String(format: "%.0f", value) }

private func percent(_ cores: Double) -> String { String(format: "%.0f%%", cores * 100) }

/// 281234.7 → "281,235".
func grouped(_ value: Double) -> String {
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

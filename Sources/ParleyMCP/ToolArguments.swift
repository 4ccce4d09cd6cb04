import Foundation
import MCP
import Parley

/// A tool call's arguments, read with checks: each accessor throws `MCPError.invalidParams` naming the tool, the
/// argument and what was expected, so that a bad call is an MCP error, never a crash or a request sent anyway.
struct ToolArguments {
    let tool: String
    let values: [String: Value]

    private func invalid(_ argument: String, _ problem: String) -> MCPError {
        .invalidParams("\(tool): '\(argument)' \(problem)")
    }

    /// Any JSON value (required).
    func value(_ argument: String) throws -> Value {
        guard let value = values[argument], value != .null else { throw invalid(argument, "is required") }
        return value
    }

    /// A JSON value encoded as the request body (text becomes a JSON string); `default` when absent.
    func payload(_ argument: String, default fallback: Value? = nil) throws -> [UInt8] {
        let value = try values[argument] ?? fallback ?? value(argument)
        return Array(try JSONEncoder().encode(value))
    }

    func optionalText(_ argument: String) -> String? { values[argument]?.stringValue }

    /// A non-empty string.
    func name(_ argument: String) throws -> String {
        guard let text = values[argument]?.stringValue, !text.isEmpty else { throw invalid(argument, "must be a non-empty string") }
        return text
    }

    func optionalName(_ argument: String) throws -> String? {
        values[argument] == nil || values[argument] == .null ? nil : try name(argument)
    }

    /// An agent id, `agent:<id>` or `cap:<capability>`.
    func target(_ argument: String) throws -> Target {
        try target(from: name(argument), argument)
    }

    /// A non-empty list of targets.
    func targets(_ argument: String) throws -> [Target] {
        guard let items = values[argument]?.arrayValue, !items.isEmpty else { throw invalid(argument, "must be a non-empty list of targets") }
        return try items.map { item in
            guard let text = item.stringValue else { throw invalid(argument, "must hold strings") }
            return try target(from: text, argument)
        }
    }

    private func target(from text: String, _ argument: String) throws -> Target {
        let spelled = text.contains(":") ? text : "agent:\(text)"
        guard let target = Target(spelled), !spelled.hasPrefix("layer:") else {
            throw invalid(argument, "must be an agent id, agent:<id> or cap:<capability>, not '\(text)' (other layers: use call_layer)")
        }
        return target
    }

    func integer(_ argument: String) throws -> Int {
        guard let number = values[argument]?.intValue ?? values[argument]?.doubleValue.flatMap({ Int(exactly: $0) }), number >= 1 else {
            throw invalid(argument, "must be a whole number of at least 1")
        }
        return number
    }

    /// A number of seconds in 0…`maximum` (`default` when absent).
    func seconds(_ argument: String, default fallback: Double, maximum: Double) throws -> Duration {
        guard let raw = values[argument], raw != .null else { return .milliseconds(Int64(fallback * 1_000)) }
        guard let number = raw.doubleValue ?? raw.intValue.map(Double.init), number >= 0, number <= maximum else {
            throw invalid(argument, "must be a number of seconds from 0 to \(Int(maximum))")
        }
        return .milliseconds(Int64(number * 1_000))
    }

    /// `timeout_seconds`: 0.1 to 600 s, 30 by default.
    func timeout() throws -> Duration {
        let timeout = try seconds("timeout_seconds", default: 30, maximum: 600)
        guard timeout >= .milliseconds(100) else { throw invalid("timeout_seconds", "must be at least 0.1") }
        return timeout
    }

    /// `status` (ok, declined, failed) with `answer` as its body: the answer as JSON, a reason as text.
    func response() throws -> Parley.Response {
        switch optionalText("status") ?? "ok" {
        case "ok": return .answer(bytes: try payload("answer"))
        case "declined": return .decline(try reason())
        case "failed": return .fail(try reason())
        case let other: throw invalid("status", "must be ok, declined or failed, not '\(other)'")
        }
    }

    private func reason() throws -> String {
        let answer = try value("answer")
        if let text = answer.stringValue { return text }
        return String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
    }
}

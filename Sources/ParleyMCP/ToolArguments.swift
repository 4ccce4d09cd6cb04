import Foundation
import MCP
import Parley

/// A tool call's arguments, read with checks: each accessor throws `MCPError.invalidParams` naming the tool, the
/// argument and what was expected, so that a bad call is an MCP error, never a crash or a request sent anyway.
/// An explicit JSON null counts as absent, everywhere.
struct ToolArguments {
    let tool: String
    let values: [String: Value]

    private func invalid(_ argument: String, _ problem: String) -> MCPError {
        .invalidParams("\(tool): '\(argument)' \(problem)")
    }

    /// The argument's value; nil when absent or null.
    private func given(_ argument: String) -> Value? {
        guard let value = values[argument], value != .null else { return nil }
        return value
    }

    /// Any JSON value but null (required).
    func value(_ argument: String) throws -> Value {
        guard let value = given(argument) else { throw invalid(argument, "is required (null counts as absent)") }
        return value
    }

    /// A JSON value encoded as the request body (text becomes a JSON string); `default` when absent.
    func payload(_ argument: String, default fallback: Value? = nil) throws -> [UInt8] {
        let value = try given(argument) ?? fallback ?? value(argument)
        return Array(try JSONEncoder().encode(value))
    }

    /// A string, or nil when absent.
    func optionalText(_ argument: String) throws -> String? {
        guard let value = given(argument) else { return nil }
        guard let text = value.stringValue else { throw invalid(argument, "must be a string") }
        return text
    }

    /// A non-empty string.
    func name(_ argument: String) throws -> String {
        guard let text = given(argument)?.stringValue, !text.isEmpty else { throw invalid(argument, "must be a non-empty string") }
        return text
    }

    func optionalName(_ argument: String) throws -> String? {
        given(argument) == nil ? nil : try name(argument)
    }

    /// An agent id, `agent:<id>` or `cap:<capability>`.
    func target(_ argument: String) throws -> Target {
        try target(from: name(argument), argument)
    }

    /// A list of 1 to `maximum` targets.
    func targets(_ argument: String, maximum: Int) throws -> [Target] {
        guard let items = given(argument)?.arrayValue, !items.isEmpty else { throw invalid(argument, "must be a non-empty list of targets") }
        guard items.count <= maximum else { throw invalid(argument, "holds \(items.count) targets; at most \(maximum) are allowed") }
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

    /// A whole number from 1 to `maximum`; `default` when absent, required when there is none.
    func integer(_ argument: String, default fallback: Int? = nil, maximum: Int = .max) throws -> Int {
        guard let raw = given(argument) else {
            guard let fallback else { throw invalid(argument, "is required") }
            return fallback
        }
        guard let number = raw.intValue ?? raw.doubleValue.flatMap({ Int(exactly: $0) }), (1...maximum).contains(number) else {
            throw invalid(argument, maximum == .max ? "must be a whole number of at least 1" : "must be a whole number from 1 to \(maximum)")
        }
        return number
    }

    /// A number of seconds in 0…`maximum` (`default` when absent).
    func seconds(_ argument: String, default fallback: Double, maximum: Double) throws -> Duration {
        guard let raw = given(argument) else { return .milliseconds(Int64(fallback * 1_000)) }
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
        switch try optionalText("status") ?? "ok" {
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

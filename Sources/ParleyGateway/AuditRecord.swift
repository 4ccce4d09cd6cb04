import ParleyWire

/// One gateway decision, written as a JSON line to the audit trail.
public struct AuditRecord: Sendable, Equatable {
    /// Milliseconds since the Unix epoch.
    public var time: UInt64
    public var caller: String
    public var fromLayer: String
    public var toLayer: String
    public var kind: String
    /// The capability named in the target: the need or use case.
    public var need: String
    /// The deciding rule, or `default-deny`.
    public var rule: String
    /// `allow` or `deny`.
    public var verdict: String
    /// Why, in words.
    public var reason: String
    public var callbackID: String
    public var payloadBytes: Int

    /// The record as one line of JSON (keys in a fixed order, strings escaped), without the newline.
    public var jsonLine: String {
        "{\"time\":\(time),\"caller\":\(quoted(caller)),\"from_layer\":\(quoted(fromLayer)),\"to_layer\":\(quoted(toLayer)),"
            + "\"kind\":\(quoted(kind)),\"need\":\(quoted(need)),\"rule\":\(quoted(rule)),\"verdict\":\(quoted(verdict)),"
            + "\"reason\":\(quoted(reason)),\"callback_id\":\(quoted(callbackID)),\"payload_bytes\":\(payloadBytes)}"
    }
}

private func quoted(_ text: String) -> String {
    // Most fields need no escaping: copy them whole.
    if !text.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
        return "\"" + text + "\""
    }
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

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
    /// The caller's callback id (written as 32 hex digits).
    public var callbackID: CallbackID
    public var payloadBytes: Int

    /// Writes the record as one JSON object, keys in the fixed order of PROTOCOL.md §8.6, without the newline.
    public func write(to json: inout JSONWriter) {
        json.openObject()
        json.key(fixed: "time")
        json.integer(time)
        json.key(fixed: "at")
        json.timestamp(millisecondsSinceEpoch: time)
        json.key(fixed: "caller")
        json.string(caller)
        json.key(fixed: "from_layer")
        json.string(fromLayer)
        json.key(fixed: "to_layer")
        json.string(toLayer)
        json.key(fixed: "kind")
        json.string(kind)
        json.key(fixed: "need")
        json.string(need)
        json.key(fixed: "rule")
        json.string(rule)
        json.key(fixed: "verdict")
        json.string(verdict)
        json.key(fixed: "reason")
        json.string(reason)
        json.key(fixed: "callback_id")
        json.string(callbackID)
        json.key(fixed: "payload_bytes")
        json.integer(payloadBytes)
        json.closeObject()
    }
}

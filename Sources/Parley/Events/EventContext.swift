/// One event as handlers see it.
///
/// The bus hands each handler a copy whose ``value`` is what the previous handler in the chain passed on.
public struct EventContext: Sendable {
    /// The event name, for example `on_task_start` (see ``BuiltInEvent``).
    public var name: String
    /// The id of the agent that raised the event.
    public var source: String
    /// The broker's per-topic sequence number when the event came from the broker; nil for a local-only event.
    public var sequence: UInt64?
    /// The event payload (JSON by default).
    public var data: [UInt8]
    /// What the previous handler in the chain passed on with `.pass`;
    /// nil for the first handler and while no handler has passed anything.
    public var value: [UInt8]?

    /// Makes an event context.
    /// - Parameters:
    ///   - name: the event name.
    ///   - source: the id of the agent that raised the event.
    ///   - sequence: the broker's sequence number, or nil for a local-only event.
    ///   - data: the payload.
    ///   - value: the value the first handler sees (normally nil).
    public init(name: String, source: String, sequence: UInt64? = nil, data: [UInt8], value: [UInt8]? = nil) {
        self.name = name
        self.source = source
        self.sequence = sequence
        self.data = data
        self.value = value
    }

    /// Decodes ``data`` as JSON.
    /// - Throws: ``ParleyError/payload(_:)`` when the bytes are not a JSON `T`.
    public func decode<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONPayload.decode(type, from: data)
    }

    /// Decodes ``value`` as JSON, or returns nil when no value was passed on.
    /// - Throws: ``ParleyError/payload(_:)`` when a value is present but is not a JSON `T`.
    public func decodeValue<T: Decodable>(_ type: T.Type = T.self) throws -> T? {
        guard let value else { return nil }
        return try JSONPayload.decode(type, from: value)
    }
}

/// A request delivered to this agent's handler.
public struct IncomingRequest: Sendable {
    /// Help, clarification, coordination leg or generic call.
    public var kind: RequestKind
    /// The requester's id for the request (stable across its retries and redeliveries).
    public var callbackID: CallbackID
    /// 1 on first delivery; higher when the broker redelivered it after an agent was lost.
    public var attempt: Int
    /// The requesting agent.
    public var requester: String
    /// The requesting agent's layer.
    public var requesterLayer: String
    /// The payload's media type.
    public var contentType: String
    /// The payload.
    public var body: [UInt8]
    /// Time left when the request was delivered.
    public var timeout: Duration

    let deliveryID: UInt64
    let connection: AgentConnection

    /// Decodes the JSON payload.
    public func decode<Value: Decodable>(_ type: Value.Type = Value.self) throws -> Value {
        try JSONPayload.decode(type, from: body)
    }

    /// Tells the requester the work goes on and asks for `extra` more time from now
    /// (the broker never extends past its hard maximum). `note` is passed to the requester.
    public func progress(extendBy extra: Duration, note: String = "") {
        connection.progress(ProgressReport(deliveryID: deliveryID, extendMilliseconds: UInt32(clamping: extra.wholeMilliseconds)),
                            note: note.isEmpty ? nil : Array(note.utf8))
    }
}

/// What a handler answers.
public struct Response: Sendable {
    /// OK, DECLINED or FAILED.
    public var status: Status
    /// The answer, or the reason.
    public var body: [UInt8]

    /// An answer given as raw bytes.
    public static func answer(bytes: [UInt8]) -> Response { Response(status: .ok, body: bytes) }

    /// An answer encoded as JSON.
    public static func answer<Value: Encodable>(_ value: Value) throws -> Response {
        Response(status: .ok, body: try JSONPayload.encode(value))
    }

    /// Not this agent's business, with a reason.
    public static func decline(_ reason: String) -> Response { Response(status: .declined, body: Array(reason.utf8)) }

    /// Tried and failed, with a reason.
    public static func fail(_ reason: String) -> Response { Response(status: .failed, body: Array(reason.utf8)) }
}

/// Serves requests delivered to the agent. A thrown error answers FAILED with its description.
public typealias RequestHandler = @Sendable (IncomingRequest) async throws -> Response

import ParleyWire

/// De-duplication key: callback ids are unique per requester.
struct RequestKey: Hashable {
    let requester: String
    let callbackID: CallbackID
}

/// A request accepted by the broker and not yet ended.
struct PendingRequest<Payload: BrokerPayload> {
    let kind: RequestKind
    let target: Target
    let contentType: String
    let requesterLayer: String
    /// The caller a gateway forwarded the request for (shown to the handler); nil for direct requests.
    let caller: String?
    let payload: Payload?
    let fingerprint: UInt64
    var deadline: UInt64
    let hardDeadline: UInt64
    var attempts: UInt8 = 0
    /// The current delivery and its agent, when delivered.
    var deliveryID: UInt64?
    var servingAgent: String?
}

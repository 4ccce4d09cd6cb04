import ParleyWire

/// De-duplication key: callback ids are unique per requester.
struct RequestKey: Hashable {
    let requester: String
    let callbackID: CallbackID
}

/// A request accepted by the broker and not yet ended. It lives in a slot of the ``PendingSlab``. The fields are
/// declared so that the small ones fill what the larger ones would leave as padding (192 bytes a request, not 208:
/// with 100,000 requests pending, 1.6 MB).
struct PendingRequest<Payload: BrokerPayload> {
    /// The agent (or gateway) that sent it, and where its RESULT goes; with the callback id, the de-duplication key.
    let key: RequestKey
    let target: Target
    let kind: RequestKind
    var attempts: UInt8 = 0
    /// The key's hash bits in the broker's request index.
    let keyTag: UInt32
    /// The neighbours in the serving agent's list of requests (slots; -1: none).
    var previousServed: Int32 = -1
    var nextServed: Int32 = -1
    /// The requester's registration when it sent the request (its id is looked up again if that one ended).
    let requester: AgentHandle
    let contentType: String
    let requesterLayer: String
    /// The caller a gateway forwarded the request for (shown to the handler); nil for direct requests.
    let caller: String?
    let payload: Payload?
    let fingerprint: UInt64
    var deadline: UInt64
    let hardDeadline: UInt64
    /// The current delivery and its agent, when delivered.
    var deliveryID: UInt64?
    var servingAgent: AgentHandle?

    init(key: RequestKey, keyTag: UInt32, requester: AgentHandle, kind: RequestKind, target: Target, contentType: String,
         requesterLayer: String, caller: String?, payload: Payload?, fingerprint: UInt64, deadline: UInt64, hardDeadline: UInt64) {
        self.key = key
        self.target = target
        self.kind = kind
        self.keyTag = keyTag
        self.requester = requester
        self.contentType = contentType
        self.requesterLayer = requesterLayer
        self.caller = caller
        self.payload = payload
        self.fingerprint = fingerprint
        self.deadline = deadline
        self.hardDeadline = hardDeadline
    }

    /// Who the request is for in the agent's view: the forwarded caller, or the requester itself.
    var budgetOwner: String { caller ?? key.requester }
}

extension PendingRequest {
    /// What a free slot of the slab holds: nothing that keeps memory.
    static var vacant: PendingRequest {
        PendingRequest(key: RequestKey(requester: "", callbackID: .none), keyTag: 0, requester: AgentHandle(slot: -1, generation: 0), kind: .help,
                       target: .agent(""), contentType: "", requesterLayer: "", caller: nil, payload: nil, fingerprint: 0,
                       deadline: 0, hardDeadline: 0)
    }
}

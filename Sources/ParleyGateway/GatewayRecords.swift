import ParleyWire
import ZeroMQ

/// A caller registered on the frontend.
struct CallerRecord {
    let id: String
    let layer: String
    let instance: UInt64
    var peer: PeerID
    var lastHeard: UInt64
    /// The gateway's callback ids for its calls.
    let backendIDs: BackendCallbackIDs
}

/// A call forwarded to the broker and not yet answered.
struct ForwardRecord {
    let caller: String
    let callerCallbackID: CallbackID
    /// The call's deadline (moved by EXTENDED).
    var deadline: UInt64
    /// When the gateway answers TIMEOUT itself if the broker has not answered (deadline + grace).
    var giveUpAt: UInt64
}

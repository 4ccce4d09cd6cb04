import ParleyWire

/// The gateway's own callback ids for one caller's calls: the same for the same caller id and callback id
/// (retries, a caller that connects again) within one gateway process, unguessable by callers (the salts are
/// random per process). The caller's id is hashed once, at registration, not for every call.
struct BackendCallbackIDs {
    private let high: Hasher
    private let low: Hasher

    init(salt: (UInt64, UInt64), caller: String) {
        var high = Hasher()
        high.combine(salt.0)
        high.combine(caller)
        var low = Hasher()
        low.combine(salt.1)
        low.combine(caller)
        self.high = high
        self.low = low
    }

    /// The gateway's callback id for the caller's `callbackID`.
    func id(for callbackID: CallbackID) -> CallbackID {
        var high = self.high
        high.combine(callbackID)
        var low = self.low
        low.combine(callbackID)
        return CallbackID(high: UInt64(bitPattern: Int64(high.finalize())), low: UInt64(bitPattern: Int64(low.finalize())))
    }
}

import ParleyWire

/// A RESULT UNAVAILABLE without deliveries, held until the next message from the server says what it is: a BYE
/// right after it means "not registered" (the call stays open and goes again after the WELCOME, PROTOCOL.md §6.1);
/// anything else, or nothing within `window`, makes it the call's outcome.
struct HeldResult {
    let callbackID: CallbackID
    let outcome: Outcome
    /// When it arrived (monotonic milliseconds).
    let since: UInt64

    /// How long a BYE may take to follow (the server sends both at once).
    static let window: UInt64 = 200
}

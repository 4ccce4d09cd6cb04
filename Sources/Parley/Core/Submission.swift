import ParleyWire

/// Work the application hands to the reactor thread, applied by the agent core in the order it was queued.
enum Submission<CallWaiter: Sendable, PublishWaiter: Sendable>: Sendable {
    /// Send a REQUEST (or hold it until registered) and end it through `waiter`.
    case call(Request, body: [UInt8], waiter: CallWaiter)
    /// The caller's task was cancelled: CANCEL a call in flight; nothing for a call already ended.
    case cancel(CallbackID)
    /// Send a PUBLISH (resent after reconnects until CONFIRMed or timed out).
    case publish(Publish, body: [UInt8], waiter: PublishWaiter, timeoutMilliseconds: UInt64)
    /// A handler answered its delivery.
    case reply(deliveryID: UInt64, Response)
    /// A handler reports progress on its delivery.
    case progress(ProgressReport, note: [UInt8]?)
    /// Start a subscription.
    case subscribe(id: Int, SubscriptionTable.Entry)
    /// End a subscription.
    case unsubscribe(id: Int)
}

import ParleyWire

/// What the agent core asks its driver to do, in order. The core does no I/O; the driver (the reactor thread)
/// sends, resumes waiters, starts and cancels handlers, and changes subscriptions on the events socket.
enum AgentEffect<CallWaiter, PublishWaiter> {
    /// Send this message to the server (the driver encodes the header into a buffer it reuses).
    case send(Header, body: [UInt8]?)
    /// A call ended: give `Outcome` to its waiter.
    case finishCall(CallWaiter, Outcome)
    /// A publish ended: CONFIRMed, or failed.
    case finishPublish(PublishWaiter, Result<Confirm, ParleyError>)
    /// The first WELCOME arrived: `connect()` returns.
    case registered
    /// Registration failed for good (refused, or no WELCOME in time): `connect()` throws; the core has stopped.
    case registrationFailed(ParleyError)
    /// Run the handler for this delivery.
    case serve(Deliver, body: [UInt8])
    /// Cancel the handler of this delivery: revoked, or its session is over.
    case revoke(deliveryID: UInt64)
    /// Subscribe the events socket to a topic prefix, or unsubscribe it.
    case subscribe(prefix: [UInt8], Bool)
    /// The server went silent: close the sockets, open fresh ones, then call `AgentCore.linkReplaced`.
    case reconnect
}

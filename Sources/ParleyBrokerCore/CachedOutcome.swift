import ParleyWire

/// A finished request's outcome, kept to answer retries of the same callback id.
struct CachedOutcome<Payload: BrokerPayload> {
    let status: Status
    let attempts: UInt8
    let body: Outbound<Payload>.Body
    let fingerprint: UInt64
}

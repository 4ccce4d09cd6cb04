/// What one requester has pending at the broker, counted against its limits (`maxPendingPerRequester`,
/// `maxPendingBytesPerRequester`). A gateway's forwarded calls count against their original caller, not the gateway.
struct RequesterLoad: Equatable {
    /// Pending requests.
    var count = 0
    /// Their payload bytes.
    var bytes = 0
}

/// What one requester has pending at the broker, counted against its limits (`maxPendingPerRequester`,
/// `maxPendingBytesPerRequester`). A gateway's forwarded calls count against their original caller, not the gateway.
struct RequesterLoad: Equatable {
    /// Pending requests.
    var count = 0
    /// Their payload bytes.
    var bytes = 0

    /// One more request of `bytes` payload bytes.
    mutating func add(bytes size: Int) {
        count += 1
        bytes += size
    }

    /// One request of `bytes` payload bytes ended; true when none is left (the entry can go).
    mutating func remove(bytes size: Int) -> Bool {
        count -= 1
        bytes -= size
        return count <= 0
    }
}

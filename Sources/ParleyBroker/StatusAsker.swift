import ZeroMQ

/// Who a STATUS rate limit counts against: the CURVE identity that asked, or, unauthenticated, its connection.
enum StatusAsker: Hashable {
    case identity(String)
    case connection(PeerID)
}

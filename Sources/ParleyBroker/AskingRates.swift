import ZeroMQ

/// The rates of one kind of question to the broker (STATUS or ADMIN): a token bucket per asker (identity, else
/// connection) and, without CURVE, one per source address, so that more connections do not get more answers.
struct AskingRates {
    /// The command's name in refusals: "STATUS", "ADMIN".
    let command: String
    private var perAsker: AskerBuckets
    private var perAddress: AskerBuckets

    init(command: String, rate: Int64, addressRate: Int64) {
        self.command = command
        perAsker = AskerBuckets(rate: rate, burst: rate)
        perAddress = AskerBuckets(rate: addressRate, burst: addressRate)
    }

    /// Why a question from `origin` on connection `peer` is over the rates (the ERROR OVERLOADED reason), or nil
    /// when it may be answered; takes a token from each bucket it passes.
    mutating func refusal(from origin: PeerOrigin, peer: PeerID, now: UInt64) -> String? {
        guard perAsker.take(Asker(identity: origin.identity, peer: peer), now: now) else {
            return "\(command) asked more than \(perAsker.rate) times a second by this "
                + "\(origin.identity == nil ? "connection" : "identity"); ask again later"
        }
        if let address = origin.rateAddress, !perAddress.take(address, now: now) {
            return "\(command) asked more than \(perAddress.rate) times a second from this address; ask again later"
        }
        return nil
    }
}

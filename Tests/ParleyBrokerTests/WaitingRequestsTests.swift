@testable import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Parked requests are indexed by what they wait for")
struct WaitingRequestsTests {
    private func key(_ requester: String, _ index: UInt64) -> RequestKey {
        RequestKey(requester: requester, callbackID: CallbackID(high: 0, low: index))
    }

    @Test("a registration takes only the requests waiting for its id, layer or capabilities, oldest first")
    func takeByReason() {
        var waiting = WaitingRequests<RequestKey>()
        waiting.park(key("a", 1), waitingFor: .init(.capability("quote")))
        waiting.park(key("a", 2), waitingFor: .init(.agent("store")))
        waiting.park(key("b", 3), waitingFor: .init(.layer("infrastructure", capability: "quote")))
        waiting.park(key("b", 4), waitingFor: .init(.layer("infrastructure", capability: nil)))
        waiting.park(key("a", 1), waitingFor: .init(.agent("elsewhere")))  // already parked: stays where it is
        #expect(waiting.count == 4)
        #expect(waiting.take(.capability("quote")) == [key("a", 1), key("b", 3)])
        #expect(waiting.take(.capability("quote")).isEmpty)
        #expect(waiting.take(.agent("elsewhere")).isEmpty)
        #expect(waiting.take(.layer("infrastructure")) == [key("b", 4)])
        #expect(waiting.count == 1 && waiting.all == [key("a", 2)])
    }

    @Test("ended requests leave their list within twice the parked ones, and a reused key is listed once")
    func endedRequestsAreCompacted() {
        var waiting = WaitingRequests<RequestKey>()
        let reason = WaitingRequests<RequestKey>.Reason.agent("away")
        for index in 0..<1_000 { waiting.park(key("a", UInt64(index)), waitingFor: reason) }
        for index in 0..<990 { waiting.remove(key("a", UInt64(index))) }
        #expect(waiting.count == 10)
        #expect(waiting.storedEntries <= 2 * waiting.count + waiting.listCount)
        for round in 0..<3 {
            waiting.park(key("a", 0), waitingFor: reason)
            #expect(waiting.count == 11, "round \(round)")
            waiting.remove(key("a", 0))
        }
        #expect(waiting.take(reason) == (990..<1_000).map { key("a", UInt64($0)) })
        #expect(waiting.isEmpty && waiting.storedEntries == 0)
    }
}

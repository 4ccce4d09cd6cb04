@testable import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Parked requests are indexed by what they wait for, and requesters take turns")
struct WaitingRequestsTests {
    typealias Reason = WaitingRequests<RequestKey>.Reason

    private func key(_ requester: String, _ index: UInt64) -> RequestKey {
        RequestKey(requester: requester, callbackID: CallbackID(high: 0, low: index))
    }

    private func park(_ waiting: inout WaitingRequests<RequestKey>, _ key: RequestKey, _ target: Target, layer: String? = nil) {
        waiting.park(key, waitingFor: Reason(target, capabilityLayer: layer), requester: key.requester)
    }

    @Test("what a registration may serve: its id, its layer, its capabilities in any layer or its own")
    func takeByReason() {
        var waiting = WaitingRequests<RequestKey>()
        park(&waiting, key("a", 1), .capability("quote"))
        park(&waiting, key("a", 2), .agent("store"))
        park(&waiting, key("b", 3), .layer("infrastructure", capability: "quote"))
        park(&waiting, key("b", 4), .layer("infrastructure", capability: nil))
        park(&waiting, key("c", 5), .capability("quote"), layer: "domain")
        park(&waiting, key("a", 1), .agent("elsewhere"))  // already parked: stays where it is
        #expect(waiting.count == 5)
        let served = Reason.servedBy(id: "pricer", layer: "infrastructure", capabilities: ["quote"])
        let taken: [RequestKey] = served.flatMap { waiting.take($0) }
        #expect(taken == [key("b", 4), key("a", 1), key("b", 3)])
        let again: [RequestKey] = waiting.take(.capability("quote", layer: nil)) + waiting.take(.agent("elsewhere"))
        #expect(again.isEmpty)
        let domain: [RequestKey] = waiting.take(.capability("quote", layer: "domain"))
        #expect(domain == [key("c", 5)], "a domain requester's cap: waits for a domain agent")
        let left: [RequestKey] = waiting.all
        #expect(left == [key("a", 2)])
    }

    @Test("requesters take turns: a thousand parked by one requester delay another's request by one turn")
    func roundRobinAcrossRequesters() {
        var waiting = WaitingRequests<RequestKey>()
        for index in 0..<1_000 { park(&waiting, key("greedy", UInt64(index)), .capability("work")) }
        park(&waiting, key("polite", 0), .capability("work"))
        park(&waiting, key("other", 0), .capability("work"))
        let reason = Reason.capability("work", layer: nil)
        var first: [RequestKey] = []
        for _ in 0..<4 { if let next = waiting.takeNext(reason) { first.append(next) } }
        let expected: [RequestKey] = [key("greedy", 0), key("polite", 0), key("other", 0), key("greedy", 1)]
        #expect(first == expected)
        let rest: [RequestKey] = waiting.take(reason)
        let greedyRest: [RequestKey] = (2..<1_000).map { key("greedy", UInt64($0)) }
        #expect(rest == greedyRest, "each requester's own oldest first")
        #expect(waiting.isEmpty && waiting.storedEntries == 0 && waiting.listCount == 0)
    }

    @Test("ended requests leave their list within twice the parked ones, and a reused key is listed once")
    func endedRequestsAreCompacted() {
        var waiting = WaitingRequests<RequestKey>()
        for index in 0..<1_000 { park(&waiting, key(index % 2 == 0 ? "a" : "b", UInt64(index)), .agent("away")) }
        for index in 0..<990 { waiting.remove(key(index % 2 == 0 ? "a" : "b", UInt64(index))) }
        #expect(waiting.count == 10)
        #expect(waiting.storedEntries <= 2 * waiting.count + waiting.listCount)
        for round in 0..<3 {
            park(&waiting, key("a", 0), .agent("away"))
            #expect(waiting.count == 11, "round \(round)")
            waiting.remove(key("a", 0))
        }
        let rest: Set<RequestKey> = Set(waiting.take(.agent("away")))
        let expected: Set<RequestKey> = Set((990..<1_000).map { key($0 % 2 == 0 ? "a" : "b", UInt64($0)) })
        #expect(rest == expected)
        #expect(waiting.isEmpty && waiting.storedEntries == 0)
    }

    @Test("taking the live requests from behind ended ones leaves no ended entries beyond the bound (fuzz finding)")
    func takingLeavesNoStaleList() {
        var waiting = WaitingRequests<RequestKey>()
        for (requester, index) in [("a", 1), ("a", 3), ("b", 5), ("b", 8)] { park(&waiting, key(requester, UInt64(index)), .agent("away")) }
        waiting.remove(key("a", 3))
        waiting.remove(key("b", 8))  // half the entries ended: not compacted yet
        // One at a time, as an agent with room for one request each time takes them.
        #expect(waiting.takeNext(.agent("away")) == key("a", 1))
        #expect(waiting.takeNext(.agent("away")) == key("b", 5))
        #expect(waiting.storedEntries <= 2 * waiting.count + waiting.listCount,
                "\(waiting.storedEntries) entries kept for \(waiting.count) parked requests in \(waiting.listCount) lists")
    }
}

@testable import ParleyBrokerCore
import ParleyWire
import Testing

// Found while writing the core fuzzer's bookkeeping checks (fuzz/CoreInvariants.swift): a request that ends while
// it waits for an agent (TIMEOUT, CANCELLED, UNAVAILABLE) used to stay in `BrokerCore.waiting` until the next
// registration, so a requester calling an away agent could grow the list without bound.

@Suite("Requests that end while waiting for an agent leave nothing behind")
struct StaleWaitingTests {
    @Test("1,000 requests to an away agent that time out, or are cancelled, leave the waiting list empty")
    func endedWaitersAreForgotten() {
        var broker = BrokerHarness()
        let asker = broker.register("asker")
        let solver = broker.register("solver")
        _ = broker.direct { core, now in core.peerUnreachable(solver.peer, now: now) }
        for index in 0..<1_000 {
            let id = CallbackID.random()
            let sent = broker.request(from: asker, to: .agent("solver"), id: id, timeout: 5)
            #expect(sent.isEmpty, "the request should wait for the away agent")
            if index.isMultiple(of: 2) { _ = broker.send(.cancel(id), from: asker) }
            _ = broker.advance(by: 10)
        }
        #expect(broker.core.pendingCount == 0)
        #expect(broker.core.waiting.count == 0, "\(broker.core.waiting.count) ended requests still listed as waiting")
    }

    @Test("a callback id reused after its request ended while waiting is listed once in the waiting list")
    func reusedCallbackIDIsListedOnce() {
        // Found by the core fuzzer: the new request with the old key was appended next to the old entry, so when it
        // ended too, two entries went stale for one counted, and the list stopped shrinking with the requests.
        var broker = BrokerHarness(.forTests { $0.dedupeCapacity = 0 })  // no outcome cache: the id starts a new request
        let asker = broker.register("asker")
        let solver = broker.register("solver")
        _ = broker.direct { core, now in core.peerUnreachable(solver.peer, now: now) }
        // Three requests that keep waiting, so ending one more is not enough to compact the list.
        for _ in 0..<3 { _ = broker.request(from: asker, to: .agent("solver"), id: .random(), timeout: 60_000) }
        let id = CallbackID.random()
        for round in 1...3 {
            #expect(broker.request(from: asker, to: .agent("solver"), id: id, timeout: 5).isEmpty)
            #expect(broker.core.waiting.count == 4, "round \(round): one entry per waiting request, not \(broker.core.waiting.count)")
            _ = broker.advance(by: 10)  // TIMEOUT
        }
        #expect(broker.core.pendingCount == 3)
    }
}

import ParleyBrokerCore
import ParleyWire
import Testing

/// Protocol 1.1's CONFIRMS: a publisher that asked for confirm batches gets one CONFIRMS per topic and turn; a 1.0
/// publisher beside it keeps getting one CONFIRM per event.
@Suite("Confirm batches (protocol 1.1) beside 1.0 publishers")
struct ConfirmBatchTests {
    /// Registers `id` with a HELLO carrying `features` (nil: a 1.0 HELLO) and returns it with the WELCOME.
    private func register(_ harness: inout BrokerHarness, _ id: String, features: Features?) -> (Agent, Welcome?) {
        let agent = Agent(id: id, layer: "app", instance: 7, peer: harness.newPeer())
        let answer = harness.send(.hello(Hello(instance: 7, agentID: id, layer: "app", capabilities: [], features: features)), from: agent.peer)
        return (agent, answer.first?.welcome)
    }

    /// Hands the core several PUBLISHes in one turn (as the reactor does with what one read brings) and returns what
    /// the turn sent.
    private func publishInOneTurn(_ harness: inout BrokerHarness, _ publishes: [(Agent, String, CallbackID)]) -> [Outgoing] {
        for (agent, event, id) in publishes {
            harness.core.handle(.publish(Publish(eventID: id, topic: Topic(agent: agent.id, event: event)!, contentType: "")),
                                body: TestPayload("x"), from: agent.peer, now: harness.now)
        }
        return harness.take()
    }

    @Test("the WELCOME grants the known features asked for and no others; a 1.0 HELLO gets a 1.0 WELCOME")
    func negotiation() {
        var harness = BrokerHarness()
        #expect(register(&harness, "new", features: [.confirmBatches, Features(rawValue: 0x80)]).1?.features == .confirmBatches)
        #expect(register(&harness, "unknown-bits", features: Features(rawValue: 0x80)).1?.features == [])
        #expect(register(&harness, "old", features: nil).1 == Welcome(heartbeatMilliseconds: 10_000, liveness: 3,
                                                                       maxBodyBytes: UInt32(BrokerConfiguration.forTests().maxBodyBytes)))
    }

    @Test("one turn of a 1.1 and a 1.0 publisher: the 1.1 one gets a CONFIRMS per topic with its events in order, the 1.0 one a CONFIRM each")
    func sideBySide() {
        var harness = BrokerHarness()
        let (batching, _) = register(&harness, "batching", features: .confirmBatches)
        let (classic, _) = register(&harness, "classic", features: nil)
        let ids = (0..<6).map { _ in CallbackID.random() }
        let sent = publishInOneTurn(&harness, [(batching, "a", ids[0]), (batching, "a", ids[1]), (batching, "a", ids[2]),
                                               (classic, "a", ids[3]), (classic, "a", ids[4]), (batching, "b", ids[5])])
        let toBatching = sent.to(batching).map(\.header)
        let stamped = toBatching.first.map(timestamp) ?? 0
        #expect(toBatching == [.confirms(ConfirmBatch(firstSequence: 1, timestamp: stamped, eventIDs: Array(ids[0..<3]))),
                               .confirms(ConfirmBatch(firstSequence: 1, timestamp: stamped, eventIDs: [ids[5]]))])
        let classicSequences: [UInt64] = sent.to(classic).compactMap { if case .confirm(let c) = $0.header { c.sequence } else { nil } }
        #expect(classicSequences == [1, 2])
        #expect(sent.to(classic).count == 2 && harness.published.count == 6)
    }

    @Test("a batch breaks where the sequence or the timestamp would not continue it, and a resend is confirmed alone with its first sequence")
    func batchBoundaries() {
        var harness = BrokerHarness()
        let (agent, _) = register(&harness, "pub", features: .confirmBatches)
        let first = CallbackID.random()
        _ = publishInOneTurn(&harness, [(agent, "e", first)])  // sequence 1, confirmed in its own turn
        let (second, third) = (CallbackID.random(), CallbackID.random())
        harness.core.handle(.publish(Publish(eventID: second, topic: Topic(agent: "pub", event: "e")!, contentType: "")),
                            body: nil, from: agent.peer, now: harness.now)
        harness.core.handle(.publish(Publish(eventID: first, topic: Topic(agent: "pub", event: "e")!, contentType: "")),
                            body: nil, from: agent.peer, now: harness.now)  // a resend
        harness.core.handle(.publish(Publish(eventID: third, topic: Topic(agent: "pub", event: "e")!, contentType: "")),
                            body: nil, from: agent.peer, now: harness.now + 1)  // a millisecond later
        let headers = harness.take().map(\.header)
        let confirms = headers.flatMap { header -> [Confirm] in
            switch header {
            case .confirm(let confirm): [confirm]
            case .confirms(let batch): batch.confirms
            default: []
            }
        }
        #expect(confirms.map(\.eventID) == [first, second, third] && confirms.map(\.sequence) == [1, 2, 3],
                "the resend's CONFIRM is queued at once; the two new events follow in two batches (their timestamps differ)")
        #expect(headers.filter { if case .confirms = $0 { true } else { false } }.count == 2)
    }

    private func timestamp(_ header: Header) -> UInt64 {
        if case .confirms(let batch) = header { batch.timestamp } else { 0 }
    }
}

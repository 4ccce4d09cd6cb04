@testable import ParleyBrokerCore
import Testing

@Suite("The away-agents queue stays within twice the agents away")
struct AwayAgentsTests {
    @Test("an agent going away and coming back 32 times, then three others going away: the queue stays bounded (fuzz finding)")
    func churnThenAdds() {
        var queue = AwayAgents()
        var away: [String: UInt64] = [:]  // who is away now, since when
        let isCurrent = { (id: String, since: UInt64) in away[id] == since }
        var clock: UInt64 = 0
        func goAway(_ id: String) {
            clock += 1
            away[id] = clock
            queue.add(id, since: clock, isCurrent: { isCurrent($0, $1) })
        }
        for _ in 0..<32 {
            goAway("flapper")
            away["flapper"] = nil
            queue.removeOne(isCurrent: { isCurrent($0, $1) })
        }
        for id in ["b", "c", "d"] { goAway(id) }
        #expect(queue.count == 3)
        #expect(queue.storedEntries <= 2 * max(queue.count, 16) + 1, "\(queue.storedEntries) entries for \(queue.count) agents away")
        #expect(queue.oldest(where: { isCurrent($0, $1) }) == "b")
    }
}

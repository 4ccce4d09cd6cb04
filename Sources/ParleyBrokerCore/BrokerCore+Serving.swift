/// Each agent's list of the requests delivered to it, linked through the pending requests themselves: adding and
/// removing one is O(1), and moving them all elsewhere when the agent goes touches only those.
extension BrokerCore {
    /// Adds the request in `slot` to `agent`'s list.
    mutating func link(_ slot: Int32, servedBy agent: AgentHandle) {
        let first = agents[current: agent].firstServed
        pending[slot].previousServed = -1
        pending[slot].nextServed = first
        if first >= 0 { pending[first].previousServed = slot }
        agents[current: agent].firstServed = slot
        agents[current: agent].inFlight += 1
        agents[current: agent].inFlightBytes += pending[slot].payload?.byteCount ?? 0
    }

    /// Removes the request in `slot` from `agent`'s list.
    mutating func unlink(_ slot: Int32, servedBy agent: AgentHandle) {
        let previous = pending[slot].previousServed
        let next = pending[slot].nextServed
        if previous >= 0 { pending[previous].nextServed = next } else { agents[current: agent].firstServed = next }
        if next >= 0 { pending[next].previousServed = previous }
        pending[slot].previousServed = -1
        pending[slot].nextServed = -1
        agents[current: agent].inFlight -= 1
        agents[current: agent].inFlightBytes -= pending[slot].payload?.byteCount ?? 0
    }

    /// Whether `agent` may take one more delivery: under its count and its bytes.
    func hasRoom(_ agent: AgentHandle) -> Bool {
        agents[current: agent].inFlight < configuration.maxDeliveriesPerAgent
            && agents[current: agent].inFlightBytes < configuration.maxDeliveryBytesPerAgent
    }

    /// The slots of the requests `agent` is serving.
    func served(by agent: AgentHandle) -> [Int32] {
        var slots: [Int32] = []
        var slot = agents[current: agent].firstServed
        while slot >= 0 {
            slots.append(slot)
            slot = pending[slot].nextServed
        }
        return slots
    }
}

import ParleyWire

/// Requests not delivered yet: no agent able to serve them is registered, or every one is serving its maximum.
/// Indexed by what they wait for, so that a registration or a freed delivery looks only at the requests it may
/// serve (issue 12: a HELLO flood with 50,000 parked requests re-dispatched all of them per WELCOME).
///
/// Within what they wait for, requests queue per requester and are taken round-robin across requesters, oldest
/// first within each: a requester keeping thousands waiting delays another's request by one turn, not by all of
/// its own (issue 12: one greedy caller starved the others).
///
/// Each request is listed once. An entry whose request ended or left is removed lazily: a list is compacted when
/// such entries are half of it, so the lists stay within twice the parked requests and every operation is
/// amortised O(1) per request.
struct WaitingRequests<Key: Hashable> {
    /// What a parked request waits for.
    enum Reason: Hashable {
        /// A registration of this agent id (`agent:<id>`).
        case agent(String)
        /// An agent offering this capability, in this layer when one is given (`cap:<name>` from a requester
        /// of that layer, `layer:<layer>/<name>`), in any layer when not.
        case capability(String, layer: String?)
        /// An agent of this layer (`layer:<layer>`).
        case layer(String)

        /// What a request for `target` waits for; `layer` is the layer a `cap:` target is served in, if restricted.
        init(_ target: Target, capabilityLayer layer: String?) {
            switch target {
            case .agent(let id): self = .agent(id)
            case .capability(let name): self = .capability(name, layer: layer)
            case .layer(let layer, let name?): self = .capability(name, layer: layer)
            case .layer(let layer, nil): self = .layer(layer)
            }
        }

        /// What `agent` may serve: requests for its id, its layer, and its capabilities in any layer or its own.
        static func servedBy(id: String, layer: String, capabilities: [String]) -> [Reason] {
            var reasons: [Reason] = [.agent(id), .layer(layer)]
            for capability in capabilities {
                reasons.append(.capability(capability, layer: nil))
                reasons.append(.capability(capability, layer: layer))
            }
            return reasons
        }
    }

    private struct Entry {
        let key: Key
        let generation: UInt64
    }

    private struct List {
        /// Each requester's entries, oldest first.
        var queues: [String: FIFO<Entry>] = [:]
        /// The requesters with entries, in turn order.
        var turns = FIFO<String>()
        var entries = 0
        /// Entries whose request is no longer listed under this generation.
        var stale = 0
    }

    private var lists: [Reason: List] = [:]
    /// Every listed request: the reason it waits for and the generation of its entry.
    private var listed: [Key: (reason: Reason, generation: UInt64)] = [:]
    private var nextGeneration: UInt64 = 0

    /// How many requests are parked.
    var count: Int { listed.count }
    /// Whether none is.
    var isEmpty: Bool { listed.isEmpty }
    /// Every parked request (for the rare passes over all of them, such as the end of the start-up grace).
    var all: [Key] { Array(listed.keys) }
    /// Entries held, ended ones included (bookkeeping checks: at most 2 × `count` + `listCount`).
    var storedEntries: Int { lists.values.reduce(0) { $0 + $1.entries } }
    /// How many reasons have a list.
    var listCount: Int { lists.count }

    /// Parks `key` of `requester` until something it waits for can serve it; a request already parked stays.
    mutating func park(_ key: Key, waitingFor reason: Reason, requester: String) {
        guard listed[key] == nil else { return }
        nextGeneration += 1
        listed[key] = (reason, nextGeneration)
        var list = lists.removeValue(forKey: reason) ?? List()
        var queue = list.queues.removeValue(forKey: requester) ?? FIFO()
        if queue.isEmpty { list.turns.append(requester) }
        queue.append(Entry(key: key, generation: nextGeneration))
        list.queues[requester] = queue
        list.entries += 1
        lists[reason] = list
    }

    /// Forgets `key` (its request ended); does nothing when it is not parked.
    mutating func remove(_ key: Key) {
        guard let (reason, _) = listed.removeValue(forKey: key), var list = lists.removeValue(forKey: reason) else { return }
        list.stale += 1
        if list.stale * 2 > list.entries { compact(&list) }
        if list.entries > 0 { lists[reason] = list }
    }

    /// Unparks and returns the next request waiting for `reason`: the oldest of the requester whose turn it is.
    mutating func takeNext(_ reason: Reason) -> Key? {
        guard var list = lists.removeValue(forKey: reason) else { return nil }
        defer { if list.entries > 0 { lists[reason] = list } }
        while let requester = list.turns.popFirst() {
            var queue = list.queues.removeValue(forKey: requester)!
            var found: Key?
            while found == nil, let entry = queue.popFirst() {
                list.entries -= 1
                if listed[entry.key]?.generation == entry.generation {
                    listed[entry.key] = nil
                    found = entry.key
                } else {
                    list.stale -= 1
                }
            }
            if !queue.isEmpty {
                list.queues[requester] = queue
                list.turns.append(requester)
            }
            if let found {
                // Taking live entries can leave the ended ones the majority, as removing does.
                if list.stale * 2 > list.entries { compact(&list) }
                return found
            }
        }
        return nil
    }

    /// Unparks and returns, in turn order, every request waiting for `reason`.
    mutating func take(_ reason: Reason) -> [Key] {
        var keys: [Key] = []
        while let key = takeNext(reason) { keys.append(key) }
        return keys
    }

    /// Drops the entries of requests no longer listed under their generation.
    private func compact(_ list: inout List) {
        var kept = 0
        for (requester, var queue) in list.queues {
            queue.filter { listed[$0.key]?.generation == $0.generation }
            kept += queue.count
            list.queues[requester] = queue.isEmpty ? nil : queue
        }
        list.turns.filter { list.queues[$0] != nil }
        list.entries = kept
        list.stale = 0
    }
}

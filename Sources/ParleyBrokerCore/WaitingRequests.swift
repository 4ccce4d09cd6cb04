import ParleyWire

/// Requests parked until an agent able to serve them registers, indexed by what they wait for, so that a
/// registration looks only at the requests it may serve (issue 12: a HELLO flood with 50,000 parked requests
/// re-dispatched all of them per WELCOME).
///
/// Each request is listed once. An entry whose request ended or left is removed lazily: its list is compacted when
/// such entries are half of it, so the lists stay within twice the parked requests and every operation is
/// amortised O(1) per request.
struct WaitingRequests<Key: Hashable> {
    /// What a parked request waits for.
    enum Reason: Hashable {
        /// A registration of this agent id (`agent:<id>`).
        case agent(String)
        /// An agent offering this capability (`cap:<name>`, `layer:<layer>/<name>`).
        case capability(String)
        /// An agent of this layer (`layer:<layer>`).
        case layer(String)

        /// What a request for `target` waits for.
        init(_ target: Target) {
            switch target {
            case .agent(let id): self = .agent(id)
            case .capability(let name), .layer(_, let name?): self = .capability(name)
            case .layer(let layer, nil): self = .layer(layer)
            }
        }
    }

    private struct Entry {
        let key: Key
        let generation: UInt64
    }

    private struct List {
        var entries: [Entry] = []
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
    var storedEntries: Int { lists.values.reduce(0) { $0 + $1.entries.count } }
    /// How many reasons have a list.
    var listCount: Int { lists.count }

    /// Parks `key` until something it waits for registers; a request already parked stays where it is.
    mutating func park(_ key: Key, waitingFor reason: Reason) {
        guard listed[key] == nil else { return }
        nextGeneration += 1
        listed[key] = (reason, nextGeneration)
        lists[reason, default: List()].entries.append(Entry(key: key, generation: nextGeneration))
    }

    /// Forgets `key` (its request ended); does nothing when it is not parked.
    mutating func remove(_ key: Key) {
        guard let (reason, _) = listed.removeValue(forKey: key), var list = lists.removeValue(forKey: reason) else { return }
        list.stale += 1
        if list.stale * 2 > list.entries.count {
            list.entries.removeAll { listed[$0.key]?.generation != $0.generation }
            list.stale = 0
        }
        if !list.entries.isEmpty { lists[reason] = list }
    }

    /// Unparks and returns, oldest first, every request waiting for `reason`.
    mutating func take(_ reason: Reason) -> [Key] {
        guard let list = lists.removeValue(forKey: reason) else { return [] }
        var keys: [Key] = []
        keys.reserveCapacity(list.entries.count - list.stale)
        for entry in list.entries where listed[entry.key]?.generation == entry.generation {
            listed[entry.key] = nil
            keys.append(entry.key)
        }
        return keys
    }
}

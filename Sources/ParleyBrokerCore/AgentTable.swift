import ParleyWire

/// The registered agents (alive or away) in a slab, found by handle, by id, or by the connection they speak on.
///
/// A message from a peer costs one lookup (its connection's handle); everything after that is an index. Slots
/// are reused through a free list with a new generation, so a stale handle never reaches another agent.
struct AgentTable {
    /// Free slots hold a vacant record: a value, not an optional, so that a record is read and changed in place.
    private var records: [AgentRecord] = []
    private var inUse: [Bool] = []
    private var generations: [UInt32] = []
    private var free: [Int32] = []
    private var slotByID: [String: Int32] = [:]
    /// The live agent speaking on each connection.
    private(set) var byPeer: [PeerID: AgentHandle] = [:]

    /// How many agents are registered (alive or away).
    var count: Int { slotByID.count }

    /// The agent with `handle`, if it is still registered.
    subscript(handle: AgentHandle) -> AgentRecord? {
        guard generations[Int(handle.slot)] == handle.generation, inUse[Int(handle.slot)] else { return nil }
        return records[Int(handle.slot)]
    }

    /// A registered agent, read or changed in place (the handle must be current).
    subscript(current handle: AgentHandle) -> AgentRecord {
        _read { yield records[Int(handle.slot)] }
        _modify { yield &records[Int(handle.slot)] }
    }

    /// The handle of the agent registered as `id`, if any.
    func handle(of id: String) -> AgentHandle? {
        slotByID[id].map { AgentHandle(slot: $0, generation: generations[Int($0)]) }
    }

    /// The agent registered as `id`, if any.
    subscript(id: String) -> AgentRecord? { slotByID[id].map { records[Int($0)] } }

    /// Whether the agent with `handle` is registered and alive.
    func isAlive(_ handle: AgentHandle) -> Bool {
        generations[Int(handle.slot)] == handle.generation && inUse[Int(handle.slot)] && records[Int(handle.slot)].isAlive
    }

    /// The live agent speaking on `peer`, if any.
    func handle(of peer: PeerID) -> AgentHandle? { byPeer[peer] }

    /// Registers a new agent (its id must be free) and returns its handle.
    mutating func insert(_ record: AgentRecord) -> AgentHandle {
        let slot: Int32
        if let reused = free.popLast() {
            slot = reused
            records[Int(slot)] = record
            inUse[Int(slot)] = true
            generations[Int(slot)] &+= 1
        } else {
            slot = Int32(records.count)
            records.append(record)
            inUse.append(true)
            generations.append(0)
        }
        slotByID[record.id] = slot
        return AgentHandle(slot: slot, generation: generations[Int(slot)])
    }

    /// Forgets an agent; its slot becomes free.
    mutating func remove(_ handle: AgentHandle) {
        guard let record = self[handle] else { return }
        slotByID[record.id] = nil
        if byPeer[record.peer] == handle { byPeer[record.peer] = nil }
        records[Int(handle.slot)] = .vacant
        inUse[Int(handle.slot)] = false
        free.append(handle.slot)
    }

    /// `peer` now speaks for `handle`.
    mutating func bind(_ peer: PeerID, to handle: AgentHandle) { byPeer[peer] = handle }

    /// `peer` speaks for nobody now (when it still spoke for `handle`).
    mutating func unbind(_ peer: PeerID, from handle: AgentHandle) {
        if byPeer[peer] == handle { byPeer[peer] = nil }
    }

    /// Every registered agent with its handle (for the passes over all agents: heartbeats, snapshots).
    var all: [(handle: AgentHandle, record: AgentRecord)] {
        records.indices.compactMap { slot in
            inUse[slot] ? (AgentHandle(slot: Int32(slot), generation: generations[slot]), records[slot]) : nil
        }
    }
}

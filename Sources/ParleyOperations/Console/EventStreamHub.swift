import NIOCore
import NIOHTTP1
import Synchronization

/// One item of a live stream: the agent it concerns (clients may ask for one agent's items) and its JSON text.
public struct StreamItem: Sendable {
    public var agent: String
    public var json: String

    public init(agent: String, json: String) {
        self.agent = agent
        self.json = json
    }
}

/// Fans items out to server-sent-events clients of the ``MetricsHTTPServer``, with bounded memory whatever the
/// clients do.
///
/// At most `maxClients` streams at once (the next one gets 503). Each client has a queue of at most
/// `bufferPerClient` items besides what its connection's write buffer holds (the server stops writing to a
/// connection over its high-water mark): when a client does not read, its oldest items are dropped, and once it
/// reads again it first gets `{"type":"dropped","count":N}`. A new client first gets the last `recentCapacity`
/// items (those it asked for). ``offer(_:)`` may be called from any thread and never blocks on a client.
public final class EventStreamHub: Sendable {
    /// Streams served at once at most.
    public let maxClients: Int
    /// Items queued per client at most, beyond its connection's write buffer.
    public let bufferPerClient: Int
    private let state: Mutex<State>

    public init(maxClients: Int = 64, bufferPerClient: Int = 256, recentCapacity: Int = 200) {
        self.maxClients = maxClients
        self.bufferPerClient = bufferPerClient
        state = Mutex(State(recent: BoundedQueue(capacity: recentCapacity)))
    }

    /// Streams open now.
    public var clientCount: Int {
        state.withLock { $0.clients.count }
    }

    /// Queues `item` for every client that wants it, and keeps it among the recent ones. Any thread.
    public func offer(_ item: StreamItem) {
        let loop: (any EventLoop)? = state.withLock { state in
            state.recent.push(item)
            for id in state.clients.keys where state.clients[id]!.wants(item) {
                if state.clients[id]!.queue.push(item.json) { state.clients[id]!.dropped += 1 }
            }
            return state.scheduleFlush()
        }
        loop?.execute { self.flush() }
    }

    /// Adds `channel` as a client wanting `agent`'s items (nil: all); false when `maxClients` are streaming already.
    func attach(_ channel: any Channel, agent: String?) -> Int? {
        let attached: (Int, (any EventLoop)?)? = state.withLock { state in
            guard state.clients.count < maxClients else { return nil }
            state.nextID += 1
            var client = Client(channel: channel, agent: agent, queue: BoundedQueue(capacity: bufferPerClient))
            for item in state.recent.elements where client.wants(item) { client.queue.push(item.json) }
            state.clients[state.nextID] = client
            state.loop = channel.eventLoop
            return (state.nextID, state.scheduleFlush())
        }
        guard let (id, loop) = attached else { return nil }
        loop?.execute { self.flush() }
        return id
    }

    /// Forgets the client `id` (its connection closed).
    func detach(_ id: Int) {
        state.withLock { _ = $0.clients.removeValue(forKey: id) }
    }

    /// A client's connection can take more: writes what waits for it. Event-loop thread.
    func writable() {
        flush()
    }

    /// Writes what waits for every client whose connection is under its high-water mark. Event-loop thread.
    private func flush() {
        let writes: [(any Channel, String)] = state.withLock { state in
            state.flushScheduled = false
            var writes: [(any Channel, String)] = []
            for id in state.clients.keys where state.clients[id]!.channel.isWritable {
                var text = ""
                if state.clients[id]!.dropped > 0 {
                    text += "data: {\"type\":\"dropped\",\"count\":\(state.clients[id]!.dropped)}\n\n"
                    state.clients[id]!.dropped = 0
                }
                for json in state.clients[id]!.queue.removeAll() { text += "data: \(json)\n\n" }
                if !text.isEmpty { writes.append((state.clients[id]!.channel, text)) }
            }
            return writes
        }
        for (channel, text) in writes {
            let buffer = channel.allocator.buffer(string: text)
            channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
        }
    }

    private struct Client {
        let channel: any Channel
        let agent: String?
        var queue: BoundedQueue<String>
        /// Items dropped since the client last got some.
        var dropped: UInt64 = 0

        func wants(_ item: StreamItem) -> Bool {
            agent.map { $0 == item.agent } ?? true
        }
    }

    private struct State {
        var recent: BoundedQueue<StreamItem>
        var clients: [Int: Client] = [:]
        var nextID = 0
        var loop: (any EventLoop)?
        var flushScheduled = false

        /// The loop to run a flush on, unless one is scheduled already or nobody listens.
        mutating func scheduleFlush() -> (any EventLoop)? {
            guard !flushScheduled, !clients.isEmpty, let loop else { return nil }
            flushScheduled = true
            return loop
        }
    }
}

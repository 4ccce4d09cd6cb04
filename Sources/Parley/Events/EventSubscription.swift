/// A live subscription to other agents' events: an async sequence of events in per-topic order and of
/// GAP notices. Cancel it (or drop every copy and the agent) to unsubscribe; cancelling the consuming task
/// ends the sequence too.
///
/// A consumer that falls far behind stops the agent from reading the events socket; the broker then
/// drops this agent's copies, and the subscription fetches them again by replay once it catches up.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = EventNotice

    let channel: NoticeChannel
    let onCancel: @Sendable () -> Void

    public func makeAsyncIterator() -> Iterator {
        Iterator(channel: channel)
    }

    /// Stops the subscription; the sequence ends.
    public func cancel() {
        onCancel()
    }

    /// Yields the notices in order, taking them from the agent in batches.
    public struct Iterator: AsyncIteratorProtocol {
        let channel: NoticeChannel
        var batch: [EventNotice] = []
        var position = 0

        public mutating func next() async -> EventNotice? {
            if position == batch.count {
                guard await channel.take(into: &batch) else { return nil }
                position = 0
            }
            defer { position += 1 }
            return batch[position]
        }
    }
}

import Synchronization

/// A live subscription to other agents' events: an async sequence of events in per-topic order and of
/// GAP notices. Cancel it (or drop every copy and the agent) to unsubscribe.
///
/// A consumer that falls far behind stops the agent from reading the events socket; the broker then
/// drops this agent's copies, and the subscription fetches them again by replay once it catches up.
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = EventNotice

    let stream: AsyncStream<EventNotice>
    let backlog: Backlog
    let onCancel: @Sendable () -> Void

    public func makeAsyncIterator() -> Iterator {
        Iterator(base: stream.makeAsyncIterator(), backlog: backlog)
    }

    /// Stops the subscription; the sequence ends.
    public func cancel() {
        onCancel()
    }

    /// Yields the notices in order.
    public struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<EventNotice>.Iterator
        let backlog: Backlog

        public mutating func next() async -> EventNotice? {
            let notice = await base.next()
            if notice != nil { backlog.count.subtract(1, ordering: .relaxed) }
            return notice
        }
    }
}

/// How many notices a subscription holds that its consumer has not taken yet.
final class Backlog: Sendable {
    let count = Atomic<Int>(0)
}

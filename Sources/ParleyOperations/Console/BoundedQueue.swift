/// A first-in first-out queue of at most `capacity` elements: pushing onto a full one drops the oldest.
struct BoundedQueue<Element> {
    private var storage: [Element?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        storage = Array(repeating: nil, count: max(capacity, 1))
    }

    /// Appends `element`; returns true when the oldest element was dropped to make room.
    @discardableResult
    mutating func push(_ element: Element) -> Bool {
        let full = count == storage.count
        storage[(head + count) % storage.count] = element
        if full { head = (head + 1) % storage.count } else { count += 1 }
        return full
    }

    /// Removes and returns every element, oldest first.
    mutating func removeAll() -> [Element] {
        let elements = (0..<count).map { storage[(head + $0) % storage.count]! }
        for index in storage.indices { storage[index] = nil }
        head = 0
        count = 0
        return elements
    }

    /// Every element, oldest first, leaving them queued.
    var elements: [Element] {
        (0..<count).map { storage[(head + $0) % storage.count]! }
    }
}
extension BoundedQueue: Sendable where Element: Sendable {}

/// A first-in first-out queue on an array: taking the first element moves a head index, and the taken elements'
/// room is given back once they are half the storage, so every operation is amortised O(1) and the storage stays
/// within twice what is queued.
struct FIFO<Element> {
    private var elements: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == elements.count }
    var count: Int { elements.count - head }
    /// The queued elements, first to last.
    var queued: ArraySlice<Element> { elements[head...] }

    mutating func append(_ element: Element) {
        elements.append(element)
    }

    mutating func popFirst() -> Element? {
        guard head < elements.count else { return nil }
        let first = elements[head]
        head += 1
        if head == elements.count {
            elements.removeAll(keepingCapacity: true)
            head = 0
        } else if head * 2 >= elements.count {
            elements.removeFirst(head)
            head = 0
        }
        return first
    }

    /// Keeps only the elements `keep` accepts, in order.
    mutating func filter(_ keep: (Element) -> Bool) {
        elements = elements[head...].filter(keep)
        head = 0
    }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes are exactly `literal`'s UTF-8: a plain byte loop, where comparing with a String's UTF-8
    /// view goes through the generic sequence comparison (hundreds of instructions per call on the hot path).
    @inline(__always)
    func equals(_ literal: StaticString) -> Bool {
        guard count == literal.utf8CodeUnitCount else { return false }
        let expected = literal.utf8Start
        for index in 0..<count where self[index] != expected[index] { return false }
        return true
    }
}

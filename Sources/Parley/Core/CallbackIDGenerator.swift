import ParleyWire
import Synchronization

/// Fresh callback and event ids without a system call each: a counter mixed with keys drawn once from the
/// system's random source. The high half is a bijection of the counter, so ids never repeat within a process
/// (before 2^64 of them); both halves look random to anyone without the keys. Thread-safe.
final class CallbackIDGenerator: Sendable {
    private let counter = Atomic<UInt64>(0)
    private let highKey: UInt64
    private let lowKey: UInt64

    init() {
        var random = SystemRandomNumberGenerator()
        highKey = random.next()
        lowKey = random.next()
    }

    /// The next id.
    func next() -> CallbackID {
        let count = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return CallbackID(high: Self.mix(count &+ highKey), low: Self.mix(count ^ lowKey))
    }

    /// SplitMix64's finaliser: a bijection on 64-bit values that spreads every input bit over the output.
    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

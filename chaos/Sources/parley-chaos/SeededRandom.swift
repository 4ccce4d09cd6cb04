/// SplitMix64: a small, fast, seedable generator, so that a run's fault schedule is reproducible from its seed.
struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A seed derived from `seed` and a name, for the agents' own randomness.
    static func derive(_ seed: UInt64, _ name: String, _ incarnation: Int) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var generator = SeededRandom(seed: seed ^ hash ^ (UInt64(incarnation) &* 0x9E37_79B9))
        return generator.next()
    }
}

import ParleyWire
import Testing

@Suite("Random and mutated input never crashes the decoder")
struct WireFuzzTests {
    /// A decode that succeeds must have read a canonical header: encoding it again gives the same bytes.
    private func expectCanonical(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .success(let header) = decodeResult(bytes) else { return }
        #expect(HeaderEncoder.encode(header) == bytes, sourceLocation: sourceLocation)
    }

    @Test("10,000 seeded random buffers of random length are refused or decoded, never crash")
    func randomBuffers() {
        var generator = SeededGenerator(seed: 0x5EED_0001)
        var refused = 0
        for _ in 0..<10_000 {
            let length = Int.random(in: 0...96, using: &generator)
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if decodeError(bytes) != nil { refused += 1 }
            expectCanonical(bytes)
        }
        // Pure noise almost never starts with 'P', version 1: nearly all of it must be refused.
        #expect(refused >= 9_990)
    }

    @Test("10,000 random bodies behind a valid signature, version and command never crash, and any decode is canonical")
    func randomBodiesBehindValidPrefix() {
        var generator = SeededGenerator(seed: 0x5EED_0002)
        var decoded = 0
        let codes = CommandCode.allCases
        for _ in 0..<10_000 {
            let code = codes.randomElement(using: &generator)!
            let length = Int.random(in: 0...64, using: &generator)
            let bytes = [0x50, 0x01, code.rawValue] + (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if decodeError(bytes) == nil { decoded += 1 }
            expectCanonical(bytes)
        }
        // Bodiless commands with an empty tail and short fixed-size ones decode now and then.
        #expect(decoded > 0)
    }

    @Test("single-byte mutations of valid headers are refused or decode canonically",
          arguments: Samples.everyCommand)
    func mutations(_ header: Header) {
        var generator = SeededGenerator(seed: UInt64(header.code.rawValue))
        let original = HeaderEncoder.encode(header)
        for index in original.indices {
            for _ in 0..<8 {
                var bytes = original
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
                expectCanonical(bytes)
            }
        }
    }

    @Test("random-length cuts and extensions of valid headers are refused", arguments: Samples.everyCommand)
    func cutsAndExtensions(_ header: Header) {
        var generator = SeededGenerator(seed: 0xC0FFEE ^ UInt64(header.code.rawValue))
        let original = HeaderEncoder.encode(header)
        for _ in 0..<200 {
            let extra = (0..<Int.random(in: 1...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(decodeError(original + extra) == .trailingBytes(extra.count))
        }
    }
}

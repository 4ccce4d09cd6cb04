import ParleyPolicy
import Testing

@Suite("Rates and byte sizes as policy files write them")
struct RateTests {
    @Test("well-formed rates parse to a count per milliseconds", arguments: [
        ("100/s", 100, UInt64(1_000)), ("10/min", 10, 60_000), ("5/h", 5, 3_600_000), ("20/100ms", 20, 100),
        ("1/2s", 1, 2_000), ("1/ms", 1, 1), ("3/15min", 3, 900_000), ("250/1s", 250, 1_000), ("7/24h", 7, 86_400_000),
    ])
    func parses(text: String, count: Int, milliseconds: UInt64) throws {
        let rate = try #require(Rate(text))
        #expect(rate.count == count)
        #expect(rate.perMilliseconds == milliseconds)
    }

    @Test("malformed rates are nil", arguments: [
        "", "100", "/s", "100/", "0/s", "-1/s", "1.5/s", "100/sec", "100/S", "100/0s", "100/m", " 100/s", "100/s ",
        "100 /s", "1/2/s", "+5/s", "5/-2s", "99999999999999999999/s", "1/99999999999999999999ms", "1/9999999999999999h", "١/s",
    ])
    func refuses(text: String) {
        #expect(Rate(text) == nil)
    }

    @Test("a rate prints in the largest unit that divides its period, and parses back", arguments: [
        ("100/s", "100/s"), ("60/60s", "60/min"), ("20/100ms", "20/100ms"), ("1/2s", "1/2s"), ("5/h", "5/h"),
        ("3/1500ms", "3/1500ms"), ("2/120min", "2/2h"),
    ])
    func description(text: String, printed: String) throws {
        let rate = try #require(Rate(text))
        #expect(rate.description == printed)
        #expect(Rate(printed) == rate)
    }

    @Test("byte sizes parse as integers, with decimal suffixes (powers of 1000) or binary ones (powers of 1024)", arguments: [
        ("0", 0), ("65536", 65_536), ("512B", 512), ("64KiB", 65_536), ("1MiB", 1_048_576), ("2 KiB", 2_048), ("1GiB", 1 << 30),
        ("64KB", 64_000), ("1MB", 1_000_000), ("2 GB", 2_000_000_000),
    ])
    func byteSizes(text: String, bytes: Int) {
        #expect(ByteSize.parse(text) == bytes)
    }

    @Test("negative or malformed byte sizes, and unknown units, are nil", arguments: [
        "", "KiB", "MB", "64kb", "1Mb", "1 mib", "1TB", "-1", "1.5MiB", "64  KiB", " 64", "64KiB ", "9999999999999999999", "9999999999999GiB",
    ])
    func badByteSizes(text: String) {
        #expect(ByteSize.parse(text) == nil)
    }

    @Test("byte sizes print exactly in the largest unit that divides them, binary before decimal", arguments: [
        (0, "0 B"), (1000, "1 KB"), (1500, "1500 B"), (1024, "1 KiB"), (65_536, "64 KiB"), (1_048_576, "1 MiB"),
        (1_572_864, "1536 KiB"), (1_000_000, "1 MB"), (2_000_000_000, "2 GB"),
    ])
    func formatting(bytes: Int, text: String) {
        #expect(ByteSize.format(bytes) == text)
    }
}

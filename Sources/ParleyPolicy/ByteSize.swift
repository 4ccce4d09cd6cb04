/// Byte counts as policy files and the command line write them: `65536`, `512B`, decimal `1KB` `1MB` `1GB`
/// (powers of 1000, as disks and networks count) and binary `64KiB` `1MiB` `2GiB` (powers of 1024).
public enum ByteSize {
    /// The suffixes and their sizes.
    private static let units: [Substring: Int] = [
        "": 1, "B": 1,
        "KB": 1_000, "MB": 1_000_000, "GB": 1_000_000_000,
        "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30,
    ]

    /// Parses a non-negative integer, optionally followed by `B`, `KB`, `MB`, `GB`, `KiB`, `MiB` or `GiB` (a space
    /// before the suffix is allowed). Nil when malformed, negative, or too large for `Int`.
    public static func parse(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        var suffix = text.dropFirst(digits.count)
        if suffix.first == " " { suffix = suffix.dropFirst() }
        guard let unit = units[suffix] else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    /// The shortest exact text for `bytes`, binary units first: `1 MiB`, `64 KiB`, `1 MB`, `1500 B`.
    public static func format(_ bytes: Int) -> String {
        let ordered = [(1 << 30, "GiB"), (1_000_000_000, "GB"), (1 << 20, "MiB"), (1_000_000, "MB"), (1 << 10, "KiB"), (1_000, "KB")]
        for (unit, name) in ordered where bytes != 0 && bytes % unit == 0 {
            return "\(bytes / unit) \(name)"
        }
        return "\(bytes) B"
    }
}

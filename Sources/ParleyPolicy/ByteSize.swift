/// Byte counts as policy files and the command line write them: `65536`, `512B`, `64KiB`, `1MiB`, `2GiB`.
///
/// Binary suffixes only: `KB` and `MB` are refused because they are ambiguous (1000 or 1024?).
public enum ByteSize {
    /// Parses a non-negative integer, optionally followed by `B`, `KiB`, `MiB` or `GiB` (a space before the
    /// suffix is allowed). Nil when malformed, negative, or too large for `Int`.
    public static func parse(_ text: String) -> Int? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int(digits) else { return nil }
        var suffix = text.dropFirst(digits.count)
        if suffix.first == " " { suffix = suffix.dropFirst() }
        let unit: Int
        switch suffix {
        case "", "B": unit = 1
        case "KiB": unit = 1 << 10
        case "MiB": unit = 1 << 20
        case "GiB": unit = 1 << 30
        default: return nil
        }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: unit)
        return overflow ? nil : bytes
    }

    /// The shortest exact text for `bytes`: `1 MiB`, `64 KiB`, `1000 B`.
    public static func format(_ bytes: Int) -> String {
        for (unit, name) in [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] where bytes != 0 && bytes % unit == 0 {
            return "\(bytes / unit) \(name)"
        }
        return "\(bytes) B"
    }
}

/// Writes JSON as UTF-8 bytes into a buffer it owns, without Foundation: the one JSON string escaper of the code base
/// (the gateway's audit trail, the JSON logs). It writes the commas between members and elements itself.
///
/// Strings are escaped as RFC 8259 requires and no more: `"` and `\` with a backslash, `\n`, `\r` and `\t` by
/// name, the other control characters below U+0020 as `\u00xx` (lower-case hex); everything else, non-ASCII
/// included, is copied as it is. Not copyable: one owner writes, then reads the bytes in place.
public struct JSONWriter: ~Copyable {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    /// How many bytes have been written.
    public private(set) var count = 0
    /// Whether the next member or element needs a comma before it.
    private var separate = false

    /// An empty writer whose buffer first holds `capacity` bytes (it grows as needed).
    public init(capacity: Int = 1_024) {
        self.capacity = max(capacity, 16)
        storage = .allocate(capacity: self.capacity)
    }

    deinit { storage.deallocate() }

    /// Calls `body` with what has been written, in place.
    public func withBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try body(UnsafeRawBufferPointer(start: storage, count: count))
    }

    /// A copy of what has been written (tests, cold paths).
    public var bytes: [UInt8] { withBytes { Array($0) } }

    /// Forgets what was written, keeping the buffer.
    public mutating func removeAll() {
        count = 0
        separate = false
    }

    public mutating func openObject() {
        startValue()
        append(UInt8(ascii: "{"))
        separate = false
    }

    public mutating func closeObject() {
        append(UInt8(ascii: "}"))
        separate = true
    }

    public mutating func openArray() {
        startValue()
        append(UInt8(ascii: "["))
        separate = false
    }

    public mutating func closeArray() {
        append(UInt8(ascii: "]"))
        separate = true
    }

    /// A member's key, escaped; its value comes next.
    public mutating func key(_ name: String) {
        string(name)
        append(UInt8(ascii: ":"))
        separate = false
    }

    /// A member's key known when the program was written, copied as it is: it must need no escaping.
    public mutating func key(fixed name: StaticString) {
        startValue()
        let length = name.utf8CodeUnitCount
        reserve(length + 3)
        storage[count] = UInt8(ascii: "\"")
        (storage + count + 1).initialize(from: name.utf8Start, count: length)
        storage[count + length + 1] = UInt8(ascii: "\"")
        storage[count + length + 2] = UInt8(ascii: ":")
        count += length + 3
        separate = false
    }

    /// A string value: quoted, its runs that need no escaping copied whole.
    public mutating func string(_ text: String) {
        startValue()
        append(UInt8(ascii: "\""))
        if text.utf8.withContiguousStorageIfAvailable({ escaped($0) }) == nil {
            var text = text
            text.withUTF8 { escaped($0) }
        }
        append(UInt8(ascii: "\""))
        separate = true
    }

    /// `utf8` escaped, its runs that need no escaping copied whole.
    private mutating func escaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var start = 0
        for index in utf8.indices where Self.needsEscape(utf8[index]) {
            append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[start..<index])))
            escape(utf8[index])
            start = index + 1
        }
        append(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: utf8[start...])))
    }

    /// A callback or event id as a string of 32 lower-case hex digits (its `description`).
    public mutating func string(_ id: CallbackID) {
        startValue()
        reserve(34)
        storage[count] = UInt8(ascii: "\"")
        for index in 0..<16 {
            storage[count + 1 + index] = Self.hexDigit(id.high >> UInt64(60 - 4 * index))
            storage[count + 17 + index] = Self.hexDigit(id.low >> UInt64(60 - 4 * index))
        }
        storage[count + 33] = UInt8(ascii: "\"")
        count += 34
        separate = true
    }

    /// An integer value in decimal.
    public mutating func integer(_ value: UInt64) {
        startValue()
        reserve(20)
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        rest = value
        for index in stride(from: count + digits - 1, through: count, by: -1) {
            storage[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        count += digits
        separate = true
    }

    /// An integer value in decimal.
    public mutating func integer(_ value: Int) {
        if value < 0 {
            startValue()
            append(UInt8(ascii: "-"))
            separate = false
        }
        integer(UInt64(value.magnitude))
    }

    /// A time as an RFC 3339 string in UTC with milliseconds, e.g. `"2025-11-26T04:00:00.123Z"`: the one time
    /// format of the logs and the audit trail. `milliseconds` counts from the Unix epoch.
    public mutating func timestamp(millisecondsSinceEpoch milliseconds: UInt64) {
        let (year, month, day) = Self.civilDate(daysSinceEpoch: Int64(milliseconds / 86_400_000))
        let inDay = milliseconds % 86_400_000
        startValue()
        reserve(26)
        append(UInt8(ascii: "\""))
        digits(UInt64(year), width: 4)
        append(UInt8(ascii: "-"))
        digits(UInt64(month), width: 2)
        append(UInt8(ascii: "-"))
        digits(UInt64(day), width: 2)
        append(UInt8(ascii: "T"))
        digits(inDay / 3_600_000, width: 2)
        append(UInt8(ascii: ":"))
        digits(inDay / 60_000 % 60, width: 2)
        append(UInt8(ascii: ":"))
        digits(inDay / 1_000 % 60, width: 2)
        append(UInt8(ascii: "."))
        digits(inDay % 1_000, width: 3)
        append(UInt8(ascii: "Z"))
        append(UInt8(ascii: "\""))
        separate = true
    }

    /// `value`'s last `width` decimal digits, zero-padded.
    private mutating func digits(_ value: UInt64, width: Int) {
        reserve(width)
        var rest = value
        for position in stride(from: count + width - 1, through: count, by: -1) {
            storage[position] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: rest % 10)
            rest /= 10
        }
        count += width
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
    static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `true` or `false`.
    public mutating func bool(_ value: Bool) {
        startValue()
        let text: StaticString = value ? "true" : "false"
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        separate = true
    }

    /// A newline: the next value starts a new JSON text (JSON lines).
    public mutating func endLine() {
        append(UInt8(ascii: "\n"))
        separate = false
    }

    @inline(__always)
    private mutating func startValue() {
        if separate { append(UInt8(ascii: ",")) }
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        reserve(1)
        storage[count] = byte
        count += 1
    }

    @inline(__always)
    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        UnsafeMutableRawPointer(storage + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    /// Room for `more` bytes after `count`.
    @inline(__always)
    private mutating func reserve(_ more: Int) {
        if count + more > capacity { grow(more) }
    }

    @inline(never)
    private mutating func grow(_ more: Int) {
        capacity = max(count + more, capacity * 2)
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        grown.initialize(from: storage, count: count)
        storage.deallocate()
        storage = grown
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    private mutating func escape(_ byte: UInt8) {
        append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): append(byte)
        case UInt8(ascii: "\n"): append(UInt8(ascii: "n"))
        case UInt8(ascii: "\r"): append(UInt8(ascii: "r"))
        case UInt8(ascii: "\t"): append(UInt8(ascii: "t"))
        default:
            for digit in [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), Self.hexDigit(UInt64(byte >> 4)),
                          Self.hexDigit(UInt64(byte))] { append(digit) }
        }
    }

    /// The lower-case hex digit of `value`'s lowest four bits.
    private static func hexDigit(_ value: UInt64) -> UInt8 {
        let nibble = UInt8(truncatingIfNeeded: value & 0xF)
        return nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
    }
}

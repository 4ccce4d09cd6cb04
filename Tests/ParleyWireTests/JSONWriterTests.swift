import ParleyWire
import Testing

@Suite("The JSON writer")
struct JSONWriterTests {
    @Test("strings escape quotes, backslashes and control characters, and keep everything else as it is",
          arguments: [("plain", #""plain""#), ("", #""""#), (#"say "hi""#, #""say \"hi\"""#), (#"a\b"#, #""a\\b""#),
                      ("line\nbreak\r\ttab", #""line\nbreak\r\ttab""#), ("\u{0}\u{1}\u{1f}", #""\u0000\u0001\u001f""#),
                      ("\u{7f} é → 🦜", "\"\u{7f} é → 🦜\""), ("domain → infrastructure", "\"domain → infrastructure\"")])
    func escapes(_ text: String, _ expected: String) {
        var json = JSONWriter()
        json.string(text)
        #expect(String(decoding: json.bytes, as: UTF8.self) == expected)
    }

    @Test("objects and arrays get their commas, nested ones too; keys are escaped unless fixed")
    func structure() {
        var json = JSONWriter()
        json.openObject()
        json.key(fixed: "a")
        json.integer(1)
        json.key("b\"")
        json.openArray()
        json.bool(true)
        json.bool(false)
        json.openObject()
        json.closeObject()
        json.closeArray()
        json.key(fixed: "c")
        json.string("x")
        json.closeObject()
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"{"a":1,"b\"":[true,false,{}],"c":"x"}"#)
    }

    @Test("integers print in decimal", arguments: [(0, "0"), (7, "7"), (10, "10"), (-42, "-42"), (Int.min, "\(Int.min)"),
                                                   (Int.max, "\(Int.max)")])
    func integers(_ value: Int, _ expected: String) {
        var json = JSONWriter()
        json.integer(value)
        #expect(String(decoding: json.bytes, as: UTF8.self) == expected)
    }

    @Test("the largest unsigned integer prints whole")
    func largestUnsigned() {
        var json = JSONWriter()
        json.integer(UInt64.max)
        #expect(String(decoding: json.bytes, as: UTF8.self) == "18446744073709551615")
    }

    @Test("a callback id is written as its description, quoted",
          arguments: [CallbackID.none, CallbackID(high: 1, low: 0x10), CallbackID(high: .max, low: 0x0123_4567_89ab_cdef)])
    func callbackID(_ id: CallbackID) {
        var json = JSONWriter()
        json.string(id)
        #expect(String(decoding: json.bytes, as: UTF8.self) == "\"\(id.description)\"")
    }

    @Test("lines start afresh after endLine, removeAll forgets, and the buffer grows past its first capacity")
    func linesAndGrowth() {
        var json = JSONWriter(capacity: 16)
        let long = String(repeating: "x", count: 1_000)
        for _ in 0..<2 {
            json.openObject()
            json.key(fixed: "text")
            json.string(long)
            json.closeObject()
            json.endLine()
        }
        let line = "{\"text\":\"\(long)\"}\n"
        #expect(String(decoding: json.bytes, as: UTF8.self) == line + line)
        json.removeAll()
        json.integer(5)
        #expect(json.bytes == Array("5".utf8))
    }

    @Test("times are RFC 3339 in UTC with milliseconds, leap days and century years included",
          arguments: [(UInt64(0), "1970-01-01T00:00:00.000Z"), (1_764_129_700_000, "2025-11-26T04:01:40.000Z"),
                      (1_709_164_800_123, "2024-02-29T00:00:00.123Z"), (951_782_400_000, "2000-02-29T00:00:00.000Z"),
                      (4_102_444_799_999, "2099-12-31T23:59:59.999Z")])
    func timestamps(_ milliseconds: UInt64, _ expected: String) {
        var json = JSONWriter()
        json.openArray()
        json.timestamp(millisecondsSinceEpoch: milliseconds)
        json.integer(1)
        json.closeArray()
        #expect(String(decoding: json.bytes, as: UTF8.self) == "[\"\(expected)\",1]")
    }
}

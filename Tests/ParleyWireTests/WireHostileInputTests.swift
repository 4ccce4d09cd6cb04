import ParleyWire
import Testing

@Suite("Hostile and malformed header frames are refused with a precise error")
struct WireHostileInputTests {
    @Test("frames shorter than 3 bytes are too short", arguments: [0, 1, 2])
    func tooShort(_ count: Int) {
        let bytes = Array([UInt8(0x50), 0x01, 0x03].prefix(count))
        #expect(decodeError(bytes) == .tooShort(count))
    }

    @Test("a first byte other than 'P' is not a Parley header", arguments: [UInt8(0x00), 0x51, 0x70, 0xFF])
    func badSignature(_ first: UInt8) {
        #expect(decodeError(HeaderBytes(command: 0x03, signature: first).bytes) == .badSignature(first))
    }

    @Test("a protocol version other than 1 is refused", arguments: [UInt8(0), 2, 0xFF])
    func wrongVersion(_ version: UInt8) {
        let error = decodeError(HeaderBytes(command: 0x03, version: version).bytes)
        #expect(error == .unsupportedVersion(version))
        #expect(error?.description == "unsupported protocol version \(version); this broker speaks 1")
    }

    @Test("every undefined command code is refused, 0x7F among them")
    func unknownCommand() {
        let undefined = (UInt8(0)...UInt8(255)).filter { CommandCode(rawValue: $0) == nil }
        #expect(undefined.contains(0x7F))
        #expect(undefined.count == 256 - CommandCode.allCases.count)
        for code in undefined {
            #expect(decodeError(HeaderBytes(command: code).bytes) == .unknownCommand(code))
            #expect(decodeError(HeaderBytes(command: code).bytes + [1, 2, 3]) == .unknownCommand(code))
        }
        #expect(decodeError(HeaderBytes(command: 0x7F).bytes)?.description == "unknown command 0x7f")
    }

    @Test("every proper prefix of a valid REQUEST, HELLO and DELIVER is refused as truncated, never decoded",
          arguments: [Samples.request, Samples.hello, Samples.deliver])
    func everyTruncation(_ header: Header) {
        let bytes = HeaderEncoder.encode(header)
        for length in 0..<bytes.count {
            let error = decodeError(Array(bytes.prefix(length)))
            if length < 3 {
                #expect(error == .tooShort(length), "prefix of \(length) bytes")
            } else {
                #expect(error?.isTruncated == true, "prefix of \(length) bytes gave \(String(describing: error))")
            }
        }
    }

    @Test("a truncated REQUEST names the field it ends in")
    func truncationNamesField() {
        let bytes = HeaderEncoder.encode(Samples.request)
        #expect(decodeError(Array(bytes.prefix(10))) == .truncated(field: "callback id"))
        #expect(decodeError(Array(bytes.prefix(19))) == .truncated(field: "kind"))
        #expect(decodeError(Array(bytes.prefix(22))) == .truncated(field: "timeout"))
        #expect(decodeError(Array(bytes.prefix(24))) == .truncated(field: "target"))
        #expect(decodeError(Array(bytes.dropLast())) == .truncated(field: "content type"))
    }

    @Test("bytes after the last field are refused with their count", arguments: Samples.everyCommand)
    func trailingBytes(_ header: Header) {
        let bytes = HeaderEncoder.encode(header)
        #expect(decodeError(bytes + [0]) == .trailingBytes(1))
        #expect(decodeError(bytes + [1, 2, 3]) == .trailingBytes(3))
    }

    @Test("invalid UTF-8 in a string field is refused",
          arguments: [[UInt8(0xFF)], [0xC3], [0x61, 0xE2, 0x82], [0xED, 0xA0, 0x80], [0xC0, 0xAF]])
    func invalidUTF8(_ garbage: [UInt8]) {
        #expect(decodeError(Samples.requestBytes(contentType: garbage))
            == .invalidField(field: "content type", problem: "not valid UTF-8"))
        #expect(decodeError(Samples.requestBytes(target: Array("agent:".utf8) + garbage))
            == .invalidField(field: "target", problem: "not valid UTF-8"))
        #expect(decodeError(Samples.helloBytes(agentID: garbage))
            == .invalidField(field: "agent id", problem: "not valid UTF-8"))
        let deliver = HeaderBytes(.deliver).u64(1).id(Samples.callbackID).u8(1).u8(1).u32(10).raw(garbage).text("l").text("t")
        #expect(decodeError(deliver.bytes) == .invalidField(field: "requester", problem: "not valid UTF-8"))
    }

    @Test("agent ids breaking the naming rules are refused in HELLO",
          arguments: ["a.b", "", "with space", "ünïcode", "slash/no", String(repeating: "a", count: 65)])
    func badAgentID(_ id: String) {
        #expect(decodeError(Samples.helloBytes(agentID: Array(id.utf8)))?.fieldName == "agent id")
    }

    @Test("layers breaking the naming rules are refused in HELLO",
          arguments: ["Domain", "DOMAIN", "", "a.b", String(repeating: "l", count: 33)])
    func badLayer(_ layer: String) {
        #expect(decodeError(Samples.helloBytes(layer: Array(layer.utf8)))?.fieldName == "layer")
    }

    @Test("capabilities breaking the naming rules are refused in HELLO", arguments: ["", "a b", "a:b", String(repeating: "c", count: 65)])
    func badCapability(_ capability: String) {
        #expect(decodeError(Samples.helloBytes(capabilities: [Array("ok".utf8), Array(capability.utf8)]))?.fieldName == "capability")
    }

    @Test("more than 32 capabilities are refused; exactly 32 are accepted")
    func capabilityCount() throws {
        let names = (0..<33).map { Array("c\($0)".utf8) }
        #expect(decodeError(Samples.helloBytes(capabilities: names))
            == .invalidField(field: "capability count", problem: "33 exceeds 32"))
        #expect(decodeError(Samples.helloBytes(capabilities: Array(names.prefix(32)))) == nil)
        // A count far above the limit is refused before any capability is read.
        #expect(decodeError(HeaderBytes(.hello).u64(1).text("a").text("b").u8(255).bytes)?.fieldName == "capability count")
    }

    @Test("a REQUEST with timeout 0 is refused")
    func zeroTimeout() {
        #expect(decodeError(Samples.requestBytes(timeout: 0)) == .invalidField(field: "timeout", problem: "must be at least 1 ms"))
        #expect(decodeError(Samples.requestBytes(timeout: 1)) == nil)
    }

    @Test("a REQUEST with a bad target is refused, naming the target",
          arguments: ["foo:x", "agent:", "cap:a b", "cap:", "layer:", "layer:App", "layer:app/", "agent:a.b", "agent", "", ":x",
                      "AGENT:x", "agent :x"])
    func badTarget(_ target: String) {
        let error = decodeError(Samples.requestBytes(target: Array(target.utf8)))
        #expect(error?.fieldName == "target")
        #expect(error?.description.contains("'\(target)'") == true)
    }

    @Test("a REPLY with a status only the broker may give is refused",
          arguments: Status.allCases.filter { !$0.isHandlerStatus })
    func replyWithBrokerStatus(_ status: Status) {
        let bytes = HeaderBytes(.reply).u64(5).u8(status.rawValue).bytes
        let error = decodeError(bytes)
        #expect(error?.fieldName == "status")
        #expect(error?.description.contains("\(status)") == true)
    }

    @Test("unknown status bytes are refused in REPLY, RESULT and ERROR", arguments: [UInt8(10), 0x7F, 0xFF])
    func unknownStatus(_ raw: UInt8) {
        let problem = DecodeError.invalidField(field: "status", problem: "unknown status \(raw)")
        #expect(decodeError(HeaderBytes(.reply).u64(5).u8(raw).bytes) == problem)
        #expect(decodeError(HeaderBytes(.result).id(Samples.callbackID).u8(raw).u8(1).bytes) == problem)
        #expect(decodeError(HeaderBytes(.error).u8(raw).u8(0x10).id(.none).bytes) == problem)
    }

    @Test("unknown request kinds are refused in REQUEST and DELIVER", arguments: [UInt8(0), 5, 0xFF])
    func unknownKind(_ raw: UInt8) {
        let problem = DecodeError.invalidField(field: "kind", problem: "unknown kind \(raw)")
        #expect(decodeError(Samples.requestBytes(kind: raw)) == problem)
        let deliver = HeaderBytes(.deliver).u64(1).id(Samples.callbackID).u8(raw).u8(1).u32(10).text("r").text("l").text("t")
        #expect(decodeError(deliver.bytes) == problem)
    }

    @Test("a string length byte pointing past the end is truncation, not a crash")
    func lengthPastEnd() {
        let bytes = HeaderBytes(.request).id(Samples.callbackID).u8(1).u32(10).u8(200).bytes + Array("agent:x".utf8)
        #expect(decodeError(bytes) == .truncated(field: "target"))
    }

    @Test("requestCallbackID recovers the id from a REQUEST whose target is bad")
    func callbackIDFromBadRequest() {
        let bytes = Samples.requestBytes(target: Array("foo:x".utf8))
        #expect(decodeError(bytes)?.fieldName == "target")
        let recovered = bytes.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) }
        #expect(recovered == Samples.callbackID)
    }

    @Test("requestCallbackID recovers the id from a REQUEST cut right after the id")
    func callbackIDFromCutRequest() {
        let bytes = Array(Samples.requestBytes().prefix(19))
        #expect(bytes.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) } == Samples.callbackID)
        let shorter = Array(bytes.dropLast())
        #expect(shorter.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) } == nil)
    }

    @Test("requestCallbackID gives nil for anything that is not a version-1 REQUEST")
    func callbackIDOnlyFromRequests() {
        let cancel = HeaderEncoder.encode(.cancel(Samples.callbackID))
        var wrongVersion = Samples.requestBytes()
        wrongVersion[1] = 2
        var wrongSignature = Samples.requestBytes()
        wrongSignature[0] = 0x51
        for bytes in [cancel, wrongVersion, wrongSignature, [], [0x50, 0x01, 0x10]] {
            #expect(bytes.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) } == nil)
        }
    }

    @Test("the error texts sent back in BAD_REQUEST are readable")
    func errorDescriptions() {
        #expect(DecodeError.tooShort(2).description == "header too short: 2 bytes, at least 3 needed")
        #expect(DecodeError.badSignature(0x51).description.contains("0x51"))
        #expect(DecodeError.truncated(field: "target").description == "header truncated in field 'target'")
        #expect(DecodeError.trailingBytes(4).description == "4 unexpected bytes after the last header field")
        #expect(DecodeError.invalidField(field: "layer", problem: "x").description == "invalid layer: x")
    }
}

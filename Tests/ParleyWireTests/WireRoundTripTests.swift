import ParleyWire
import Testing

@Suite("Header encoding round trips")
struct WireRoundTripTests {
    @Test("the samples cover every command code")
    func samplesCoverEveryCommand() {
        #expect(Set(Samples.everyCommand.map(\.code)) == Set(CommandCode.allCases))
        #expect(Samples.everyCommand.count == CommandCode.allCases.count)
    }

    @Test("every header case decodes to what was encoded", arguments: Samples.everyCommand)
    func everyCaseRoundTrips(_ header: Header) throws {
        let bytes = HeaderEncoder.encode(header)
        #expect(Array(bytes.prefix(3)) == [0x50, 0x01, header.code.rawValue])
        #expect(try HeaderDecoder.decode(bytes) == header)
    }

    @Test("decoding through a raw buffer gives the same header as through an array", arguments: Samples.everyCommand)
    func rawBufferDecodeAgrees(_ header: Header) throws {
        let bytes = HeaderEncoder.encode(header)
        let viaRaw = try bytes.withUnsafeBytes { raw throws(DecodeError) in try HeaderDecoder.decode(raw) }
        #expect(viaRaw == header)
    }

    @Test("a REQUEST is laid out as documented: big-endian integers and length-prefixed strings")
    func requestGoldenBytes() {
        let header = Header.request(Request(callbackID: CallbackID(high: 1, low: 2), kind: .help, timeoutMilliseconds: 0x0102_0304,
                                            target: .agent("b"), contentType: "t"))
        let expected: [UInt8] = [0x50, 0x01, 0x10,
                                 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2,
                                 0x01,
                                 0x01, 0x02, 0x03, 0x04,
                                 7] + Array("agent:b".utf8) + [1, UInt8(ascii: "t")]
        #expect(HeaderEncoder.encode(header) == expected)
    }

    @Test("encode(into:) appends after what the buffer already holds")
    func encodeIntoAppends() {
        var buffer: [UInt8] = [9, 9]
        HeaderEncoder.encode(.heartbeat, into: &buffer)
        HeaderEncoder.encode(.bye, into: &buffer)
        #expect(buffer == [9, 9, 0x50, 0x01, 0x03, 0x50, 0x01, 0x04])
    }

    @Test("every request kind round trips in a REQUEST", arguments: RequestKind.allCases)
    func everyKindRoundTrips(_ kind: RequestKind) throws {
        let header = Header.request(Request(callbackID: .random(), kind: kind, timeoutMilliseconds: 1, target: .agent("a"),
                                            contentType: ""))
        #expect(try HeaderDecoder.decode(HeaderEncoder.encode(header)) == header)
    }

    @Test("every status round trips in RESULT and ERROR", arguments: Status.allCases)
    func everyStatusRoundTrips(_ status: Status) throws {
        let result = Header.result(ResultHeader(callbackID: Samples.callbackID, status: status, attempts: 255))
        let error = Header.error(ErrorNotice(status: status, command: 0xFF, callbackID: Samples.callbackID))
        #expect(try HeaderDecoder.decode(HeaderEncoder.encode(result)) == result)
        #expect(try HeaderDecoder.decode(HeaderEncoder.encode(error)) == error)
    }

    @Test("a handler status round trips in REPLY", arguments: [Status.ok, .declined, .failed])
    func handlerStatusRoundTrips(_ status: Status) throws {
        let reply = Header.reply(Reply(deliveryID: .max, status: status))
        #expect(try HeaderDecoder.decode(HeaderEncoder.encode(reply)) == reply)
    }

    @Test("every target scheme round trips in a REQUEST",
          arguments: [Target.agent("x"), .capability("a.b.c"), .layer("domain", capability: nil), .layer("infra", capability: "db.read")])
    func everyTargetRoundTrips(_ target: Target) throws {
        let header = Header.request(Request(callbackID: Samples.callbackID, kind: .call, timeoutMilliseconds: .max, target: target,
                                            contentType: "application/octet-stream"))
        #expect(try HeaderDecoder.decode(HeaderEncoder.encode(header)) == header)
    }

    @Test("fields at their limits round trip: extreme integers, longest names, 32 capabilities, 255-byte strings")
    func limitsRoundTrip() throws {
        let longestAgent = String(repeating: "A", count: Names.maxAgentLength)
        let longestLayer = String(repeating: "z", count: Names.maxLayerLength)
        let capabilities = (0..<Names.maxCapabilities).map { "cap.\($0)" + String(repeating: "x", count: 60 - "\($0)".count) }
        #expect(capabilities.allSatisfy { $0.utf8.count == Names.maxCapabilityLength })
        let hello = Header.hello(Hello(instance: .max, agentID: longestAgent, layer: longestLayer, capabilities: capabilities))
        let deliver = Header.deliver(Deliver(deliveryID: .max, callbackID: CallbackID(high: .max, low: .max), kind: .call,
                                             attempt: .max, timeoutMilliseconds: .max,
                                             requester: String(repeating: "r", count: 255),
                                             requesterLayer: "", contentType: String(repeating: "c", count: 255)))
        let welcome = Header.welcome(Welcome(heartbeatMilliseconds: .max, liveness: .max, maxBodyBytes: .max))
        let empty = Header.hello(Hello(instance: 0, agentID: "a", layer: "l", capabilities: []))
        for header in [hello, deliver, welcome, empty] {
            #expect(try HeaderDecoder.decode(HeaderEncoder.encode(header)) == header)
        }
    }

    @Test("a multi-byte UTF-8 content type round trips")
    func unicodeContentType() throws {
        let header = Header.request(Request(callbackID: Samples.callbackID, kind: .help, timeoutMilliseconds: 10,
                                            target: .agent("a"), contentType: "text/plain; note=\"héllo ✓ 🚀\""))
        #expect(try HeaderDecoder.decode(HeaderEncoder.encode(header)) == header)
    }

    @Test("the header's code names its command", arguments: Samples.everyCommand)
    func codeMatchesCommandByte(_ header: Header) {
        #expect(HeaderEncoder.encode(header)[2] == header.code.rawValue)
    }
}

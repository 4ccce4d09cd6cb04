import ParleyWire

#if canImport(Glibc)
import Glibc
#endif

// libFuzzer target: the wire protocol decoder (HeaderDecoder) on arbitrary header frames, and the text
// parsers a header's strings go through (targets, topics, selectors, callback ids).
//
//   .build/fuzz/fuzz-decoder fuzz/corpus/decoder       # fuzz
//   .build/fuzz/fuzz-decoder crash-<sha1>              # replay one input
//   FUZZ_WRITE_SEEDS=fuzz/corpus/decoder .build/fuzz/fuzz-decoder   # (re)write the seed corpus and exit
//
// Checked for every input:
//  - decoding never traps; an error's description (the text sent back in BAD_REQUEST) can be made;
//  - errors are the right kind for the first three bytes (too short, signature, version, unknown command);
//  - a header that decodes is canonical: encoding it gives back exactly the input bytes, and decoding that
//    again gives an equal header;
//  - `requestCallbackID` (used to answer a malformed REQUEST with RESULT BAD_REQUEST) agrees with the decoder:
//    it names the REQUEST's or FORWARD's callback id, and nothing for other commands;
//  - every name in a decoded header obeys the naming rules;
//  - the text parsers round-trip: Target, Topic, TopicSelector and CallbackID(hex:) print what they parsed;
//  - `Target(wire:)` (the decoder's parser, on a header's bytes) accepts only bytes that print back unchanged,
//    so never invalid UTF-8, and agrees with `Target(String)`.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDecoder(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    checkDecoder(bytes)
    if size <= 300 { checkTargetBytes(bytes) }
    if size <= 300, let text = String(validating: bytes, as: UTF8.self) {
        checkTextParsers(text)
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzDecoderInitialize(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    if let directory = getenv("FUZZ_WRITE_SEEDS") {
        let path = String(cString: directory)
        for (name, header) in DecoderSeeds.headers {
            writeSeed(directory: path, name: name, bytes: HeaderEncoder.encode(header))
        }
        for (name, text) in DecoderSeeds.texts { writeSeed(directory: path, name: name, bytes: Array(text.utf8)) }
        print("wrote \(DecoderSeeds.headers.count + DecoderSeeds.texts.count) decoder seeds to \(path)")
        exit(0)
    }
    return 0
}

func writeSeed(directory: String, name: String, bytes: [UInt8]) {
    guard let file = fopen(directory + "/" + name, "wb") else { fatalError("cannot write \(directory)/\(name)") }
    _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
    fclose(file)
}

private func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, line: UInt = #line) {
    if !condition() { fatalError(message(), line: line) }
}

private func hex(_ bytes: UnsafeRawBufferPointer) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func checkDecoder(_ bytes: UnsafeRawBufferPointer) {
    let callbackID = HeaderDecoder.requestCallbackID(bytes)
    let header: Header
    do throws(DecodeError) {
        header = try HeaderDecoder.decode(bytes)
    } catch {
        let text = error.description
        require(!text.isEmpty, "empty error description")
        switch error {
        case .tooShort(let count): require(count == bytes.count && count < 3, "tooShort(\(count)) for \(bytes.count) bytes")
        case .badSignature(let byte): require(bytes[0] == byte && byte != protocolSignature, "badSignature")
        case .unsupportedVersion(let version): require(bytes[0] == protocolSignature && bytes[1] == version && version != protocolVersion, "version")
        case .unknownCommand(let code): require(bytes[2] == code && CommandCode(rawValue: code) == nil, "unknownCommand")
        case .trailingBytes(let count): require(count > 0 && count < bytes.count, "trailingBytes(\(count))")
        case .truncated, .invalidField: require(bytes.count >= 3 && CommandCode(rawValue: bytes[2]) != nil, "field error before the command")
        }
        if callbackID != nil {
            require(bytes[2] == CommandCode.request.rawValue || bytes[2] == CommandCode.forward.rawValue, "callback id of a non-request")
        }
        return
    }
    let encoded = HeaderEncoder.encode(header)
    require(encoded.elementsEqual(bytes), "not canonical: \(hex(bytes)) decodes to \(header), which encodes as \(encoded)")
    let again: Header? = try? HeaderDecoder.decode(encoded)
    require(again == header, "decode(encode(h)) ≠ h for \(header)")
    switch header {
    case .request(let request):
        require(callbackID == request.callbackID, "requestCallbackID \(String(describing: callbackID)) ≠ \(request.callbackID)")
        checkRequest(request)
    case .forward(let forward):
        require(callbackID == forward.request.callbackID, "requestCallbackID ≠ FORWARD's callback id")
        checkRequest(forward.request)
        require(Names.agentProblem(forward.caller) == nil && Names.layerProblem(forward.callerLayer) == nil, "FORWARD caller breaks the rules")
    default:
        require(callbackID == nil, "requestCallbackID named \(String(describing: callbackID)) for \(header.code)")
    }
    switch header {
    case .hello(let hello):
        require(Names.agentProblem(hello.agentID) == nil && Names.layerProblem(hello.layer) == nil, "HELLO names break the rules")
        require(hello.capabilities.count <= Names.maxCapabilities, "too many capabilities")
        require(hello.capabilities.allSatisfy { Names.capabilityProblem($0) == nil }, "capability breaks the rules")
    case .gatewayHello(let hello):
        require(Names.agentProblem(hello.gatewayID) == nil, "gateway id breaks the rules")
    case .reply(let reply):
        require(reply.status.isHandlerStatus, "REPLY with a broker status")
    case .replay(let replay):
        require(replay.from >= 1 && (replay.to == 0 || replay.to >= replay.from), "REPLAY range \(replay.from)…\(replay.to)")
        require(TopicSelector(replay.selector.description) == replay.selector, "selector does not round-trip")
    case .publish(let publish):
        checkTopic(publish.topic)
    case .event(let event):
        checkTopic(event.topic)
    case .gap(let gap):
        checkTopic(gap.topic)
    case .beacon(let beacon):
        checkTopic(beacon.topic)
    case .confirms(let batch):
        require((1...ConfirmBatch.maxCount).contains(batch.eventIDs.count) && batch.firstSequence >= 1, "CONFIRMS of \(batch.eventIDs.count) from \(batch.firstSequence)")
    default:
        break
    }
}

private func checkRequest(_ request: Request) {
    require(request.timeoutMilliseconds > 0, "REQUEST with timeout 0")
    require(Target(request.target.description) == request.target, "target \(request.target) does not round-trip")
}

private func checkTopic(_ topic: Topic) {
    require(Names.agentProblem(topic.agent) == nil && Names.eventProblem(topic.event) == nil, "topic \(topic) breaks the rules")
    require(Topic(topic.description) == topic && Topic.problem(topic.description) == nil, "topic \(topic) does not round-trip")
    require(topic.frame == Array((topic.description + ".").utf8), "topic frame is not the topic and a dot")
    require(TopicSelector.topic(topic).matches(topic) && TopicSelector.agent(topic.agent).matches(topic), "selector does not match its topic")
}

/// `Target(wire:)` on the input's raw bytes, which need not be UTF-8.
func checkTargetBytes(_ bytes: UnsafeRawBufferPointer) {
    let text = String(validating: bytes, as: UTF8.self)
    guard let target = Target(wire: bytes) else {
        return require(text.flatMap { Target($0) } == nil, "Target('\(text ?? "")') parses, Target(wire:) of its bytes does not")
    }
    require(text != nil && Array(target.description.utf8).elementsEqual(bytes), "Target(wire: \(hex(bytes))) prints as '\(target)'")
    require(text.flatMap { Target($0) } == target, "Target(wire: \(hex(bytes))) is \(target), Target(String) disagrees")
}

/// The parsers a header's strings go through, on the input as text.
func checkTextParsers(_ text: String) {
    if let target = Target(text) {
        require(target.description == text, "Target('\(text)') prints as '\(target)'")
    }
    if let topic = Topic(text) {
        require(topic.description == text, "Topic('\(text)') prints as '\(topic)'")
        require(Topic.problem(text) == nil, "Topic.problem rejects the parsable '\(text)'")
    } else {
        require(Topic.problem(text) != nil, "Topic.problem accepts the unparsable '\(text)'")
    }
    if let selector = TopicSelector(text) {
        require(selector.description == text, "TopicSelector('\(text)') prints as '\(selector)'")
        require(Array(text.utf8).starts(with: selector.subscription.dropLast()), "subscription prefix of '\(text)' is off")
    }
    if let id = CallbackID(hex: text) {
        require(id.description == text.lowercased(), "CallbackID(hex: '\(text)') prints as \(id)")
    }
    _ = Names.agentProblem(text)
    _ = Names.layerProblem(text)
    _ = Names.capabilityProblem(text)
    _ = Names.eventProblem(text)
}

import ParleyWire
import Testing

// Shared fixtures and helpers for the wire-protocol tests.

/// Decodes `bytes`, capturing the typed error instead of throwing.
func decodeResult(_ bytes: [UInt8]) -> Swift.Result<Header, DecodeError> {
    do throws(DecodeError) {
        return .success(try HeaderDecoder.decode(bytes))
    } catch {
        return .failure(error)
    }
}

/// The error `bytes` are refused with, or nil when they decode.
func decodeError(_ bytes: [UInt8]) -> DecodeError? {
    if case .failure(let error) = decodeResult(bytes) { return error }
    return nil
}

/// The field named by an `invalidField` or `truncated` error, for matching without the problem text.
extension DecodeError {
    var fieldName: String? {
        switch self {
        case .invalidField(let field, _), .truncated(let field): field
        default: nil
        }
    }

    var isTruncated: Bool {
        if case .truncated = self { return true }
        return false
    }
}

/// A small deterministic generator (SplitMix64), so random-input tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds header bytes by hand, to write fields the encoder would never produce.
struct HeaderBytes {
    private(set) var bytes: [UInt8]

    init(command: UInt8, signature: UInt8 = 0x50, version: UInt8 = 1) {
        bytes = [signature, version, command]
    }

    init(_ code: CommandCode) { self.init(command: code.rawValue) }

    func u8(_ value: UInt8) -> HeaderBytes { appending([value]) }
    func u32(_ value: UInt32) -> HeaderBytes { appending(bigEndian(value)) }
    func u64(_ value: UInt64) -> HeaderBytes { appending(bigEndian(value)) }
    func id(_ value: CallbackID) -> HeaderBytes { u64(value.high).u64(value.low) }
    /// A length-prefixed string of raw bytes (which need not be UTF-8).
    func raw(_ content: [UInt8]) -> HeaderBytes { appending([UInt8(content.count)] + content) }
    func text(_ content: String) -> HeaderBytes { raw(Array(content.utf8)) }

    private func appending(_ more: [UInt8]) -> HeaderBytes {
        var copy = self
        copy.bytes += more
        return copy
    }

    private func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}

enum Samples {
    static let callbackID = CallbackID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)

    /// A HELLO built field by field, with a chosen agent id, layer and capabilities.
    static func helloBytes(agentID: [UInt8] = Array("planner".utf8), layer: [UInt8] = Array("domain".utf8),
                           capabilities: [[UInt8]] = [Array("plan".utf8)]) -> [UInt8] {
        var builder = HeaderBytes(.hello).u64(7).raw(agentID).raw(layer).u8(UInt8(capabilities.count))
        for capability in capabilities { builder = builder.raw(capability) }
        return builder.bytes
    }

    /// A REQUEST built field by field, with a chosen kind, timeout, target and content type.
    static func requestBytes(id: CallbackID = callbackID, kind: UInt8 = RequestKind.help.rawValue, timeout: UInt32 = 5_000,
                             target: [UInt8] = Array("agent:helper".utf8),
                             contentType: [UInt8] = Array("application/json".utf8)) -> [UInt8] {
        HeaderBytes(.request).id(id).u8(kind).u32(timeout).raw(target).raw(contentType).bytes
    }

    static let hello = Header.hello(Hello(instance: 0xDEAD_BEEF_0000_0001, agentID: "planner-1", layer: "domain",
                                          capabilities: ["plan", "summarise.v2", "Search_web"]))
    static let request = Header.request(Request(callbackID: callbackID, kind: .clarification, timeoutMilliseconds: 30_000,
                                                target: .capability("summarise.v2"), contentType: "application/json"))
    static let deliver = Header.deliver(Deliver(deliveryID: 0x1122_3344_5566_7788, callbackID: callbackID, kind: .coordinate,
                                                attempt: 3, timeoutMilliseconds: 12_345, requester: "ui-agent",
                                                requesterLayer: "presentation", contentType: "text/plain; charset=utf-8"))

    /// One header of every command, with every field set to a distinctive value (HELLO and WELCOME with the protocol
    /// 1.1 features byte, so that a byte more is a trailing byte).
    static let everyCommand: [Header] = [
        .hello(Hello(instance: 0xDEAD_BEEF_0000_0001, agentID: "planner-1", layer: "domain", capabilities: ["plan"],
                     features: [.confirmBatches, Features(rawValue: 0x80)])),
        .welcome(Welcome(heartbeatMilliseconds: 1_000, liveness: 3, maxBodyBytes: 1 << 20, features: .confirmBatches)),
        .heartbeat,
        .bye,
        request,
        deliver,
        .progress(ProgressReport(deliveryID: 42, extendMilliseconds: 9_000)),
        .extended(Extended(callbackID: callbackID, timeoutMilliseconds: 8_999)),
        .cancel(callbackID),
        .revoke(deliveryID: 0xFFFF_FFFF_FFFF_FFFE),
        .reply(Reply(deliveryID: 43, status: .declined)),
        .result(ResultHeader(callbackID: callbackID, status: .noRoute, attempts: 0)),
        .error(ErrorNotice(status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: .none)),
        .status,
        .statusReply,
        .admin(AdminCommand(action: .purge, target: "callback.planner-1.on_error")),
        .adminReply(AdminReply(status: .unauthorized, action: .evict)),
        .publish(Publish(eventID: callbackID, topic: topic, contentType: "application/json")),
        .confirm(Confirm(eventID: callbackID, sequence: 17, timestamp: 1_767_225_600_000)),
        .confirms(ConfirmBatch(firstSequence: 18, timestamp: 1_767_225_600_001, eventIDs: [callbackID, CallbackID(high: 1, low: 2)])),
        .event(EventHeader(sequence: .max, timestamp: 1, eventID: callbackID, topic: topic, contentType: "")),
        .replay(Replay(selector: .agent("planner-1"), from: 1, to: 0)),
        .gap(Gap(topic: topic, from: 3, to: 9)),
        .replayEnd(ReplayEnd(selector: .topic(topic), events: 4_096, truncated: true)),
        .beacon(Beacon(topic: topic, latest: 12)),
        .gatewayHello(GatewayHello(instance: 0xDEAD_BEEF, gatewayID: "gateway-1", token: "s3cret")),
        .forward(Forward(request: Request(callbackID: callbackID, kind: .call, timeoutMilliseconds: 30_000,
                                          target: .layer("infrastructure", capability: "persistence"), contentType: "application/json"),
                         caller: "orders", callerLayer: "domain")),
    ]

    static let topic = Topic(agent: "planner-1", event: "on_task_complete")!
}

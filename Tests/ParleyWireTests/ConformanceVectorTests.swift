import Foundation
import ParleyWire
import Testing

/// docs/conformance/vectors.json holds language-neutral test vectors for the wire protocol; other clients
/// (clients/python) check themselves against the same file. These tests keep the file and the reference
/// codec in agreement, in both directions.
@Suite("Conformance vectors (docs/conformance/vectors.json) agree with HeaderDecoder and HeaderEncoder")
struct ConformanceVectorTests {
    @Test("the vector file loads, with valid vectors and refusals")
    func fileLoads() throws {
        let document = try ConformanceDocument.load()
        #expect(document.formatVersion == 1)
        #expect(document.protocolVersion == Int(protocolVersion))
        #expect(document.vectors.count >= 100)
        #expect(Set(document.vectors.map(\.name)).count == document.vectors.count, "vector names are unique")
        #expect(!ConformanceDocument.validVectors.isEmpty && !ConformanceDocument.refusalVectors.isEmpty)
    }

    @Test("a valid vector decodes to its command and fields, re-encodes to its bytes, and its fields encode to them",
          arguments: ConformanceDocument.validVectors)
    func validVector(_ vector: ConformanceVector) throws {
        guard case .decode(let command, let fields) = vector.expectation else { Issue.record("not a valid vector"); return }
        let bytes = try #require(vector.frames.first)
        let header: Header
        do {
            header = try HeaderDecoder.decode(bytes)
        } catch {
            Issue.record("\(vector.name): refused with '\(error)'")
            return
        }
        let (name, decodedFields) = ConformanceFields.describe(header)
        #expect(name == command)
        #expect(decodedFields == fields)
        #expect(HeaderEncoder.encode(header) == bytes, "re-encoding gives the vector's bytes")
        let built = try #require(ConformanceFields.header(command, fields), "the fields name a header")
        #expect(built == header)
        #expect(HeaderEncoder.encode(built) == bytes, "encoding the vector's fields gives its bytes")
    }

    @Test("a refusal vector is refused with its reason, and the broker's reply form matches",
          arguments: ConformanceDocument.refusalVectors)
    func refusalVector(_ vector: ConformanceVector) throws {
        guard case .refuse(let status, let reason, let errorCommand, let brokerReply, let callbackID) = vector.expectation else {
            Issue.record("not a refusal vector")
            return
        }
        let bytes = try #require(vector.frames.first)
        do {
            let header = try HeaderDecoder.decode(bytes)
            Issue.record("\(vector.name): decoded as \(header), expected a refusal containing '\(reason)'")
        } catch {
            #expect(error.description.contains(reason), "\(error.description)")
        }
        #expect(status == Status.badRequest.description)
        #expect(errorCommand == Int(bytes.count >= 3 ? bytes[2] : 0))
        let readable = bytes.withUnsafeBytes { HeaderDecoder.requestCallbackID($0) }
        #expect(readable?.description == callbackID)
        #expect(brokerReply == (readable == nil ? "ERROR" : "RESULT"))
    }

    @Test("the vectors cover every command, every status and the hostile cases")
    func coverage() throws {
        let document = try ConformanceDocument.load()
        #expect(document.commands == Dictionary(uniqueKeysWithValues: CommandCode.allCases.map { (ConformanceFields.name(of: $0), Int($0.rawValue)) }))
        #expect(document.statuses == Dictionary(uniqueKeysWithValues: Status.allCases.map { ($0.description, Int($0.rawValue)) }))
        var commands = Set<String>()
        var resultStatuses = Set<String>()
        var reasons: [String] = []
        for vector in document.vectors {
            switch vector.expectation {
            case .decode(let command, let fields):
                commands.insert(command)
                if command == "RESULT", case .string(let status)? = fields["status"] { resultStatuses.insert(status) }
            case .refuse(_, let reason, _, _, _):
                reasons.append(reason)
            }
        }
        #expect(commands == Set(CommandCode.allCases.map(ConformanceFields.name(of:))), "a valid vector for every command")
        #expect(resultStatuses == Set(Status.allCases.map(\.description)), "a RESULT vector for every status")
        let all = reasons.joined(separator: "\n")
        for needle in ["header too short", "not a Parley header", "unsupported protocol version", "unknown command",
                       "header truncated in field", "unexpected bytes after the last header field", "invalid target",
                       "invalid timeout: must be at least 1 ms", "not valid UTF-8", "contains '.'", "unknown status",
                       "a handler may reply OK, DECLINED or FAILED, not", "invalid from: sequences start at 1"] {
            #expect(all.contains(needle), "a refusal vector for '\(needle)'")
        }
    }
}

// MARK: - The vector file

/// One vector: its frames and what decoding frame 0 must give.
struct ConformanceVector: Sendable, CustomTestStringConvertible {
    enum Expectation: Sendable {
        case decode(command: String, fields: [String: ConformanceJSON])
        case refuse(status: String, reason: String, errorCommand: Int, brokerReply: String, callbackID: String?)
    }

    let name: String
    let frames: [[UInt8]]
    let expectation: Expectation

    var testDescription: String { name }
}

/// A JSON value as the vector file uses it (numbers are small integers; u64 values are strings).
enum ConformanceJSON: Sendable, Equatable, Decodable {
    case bool(Bool), int(Int), string(String), array([ConformanceJSON]), object([String: ConformanceJSON])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int.self) { self = .int(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([ConformanceJSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: ConformanceJSON].self)) }
    }
}

private struct ConformanceDocument: Decodable {
    struct RawVector: Decodable {
        struct Decode: Decodable { let command: String; let fields: [String: ConformanceJSON] }
        struct Refuse: Decodable {
            let status: String
            let reason: String
            let error_command: Int
            let broker_reply: String
            let callback_id: String?
        }
        let name: String
        let frames: [String]
        let decode: Decode?
        let refuse: Refuse?
    }

    let format_version: Int
    let protocol_version: Int
    let commands: [String: Int]
    let statuses: [String: Int]
    private let rawVectors: [RawVector]

    enum CodingKeys: String, CodingKey {
        case format_version, protocol_version, commands, statuses, rawVectors = "vectors"
    }

    var formatVersion: Int { format_version }
    var protocolVersion: Int { protocol_version }

    var vectors: [ConformanceVector] {
        rawVectors.map { raw in
            let expectation: ConformanceVector.Expectation
            if let decode = raw.decode {
                expectation = .decode(command: decode.command, fields: decode.fields)
            } else if let refuse = raw.refuse {
                expectation = .refuse(status: refuse.status, reason: refuse.reason, errorCommand: refuse.error_command,
                                      brokerReply: refuse.broker_reply, callbackID: refuse.callback_id)
            } else {
                expectation = .refuse(status: "?", reason: "vector \(raw.name) has neither decode nor refuse", errorCommand: -1,
                                      brokerReply: "?", callbackID: nil)
            }
            return ConformanceVector(name: raw.name, frames: raw.frames.map(hexBytes), expectation: expectation)
        }
    }

    /// docs/conformance/vectors.json, found from this file's path.
    static var url: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../docs/conformance/vectors.json").standardizedFileURL
    }

    static func load() throws -> ConformanceDocument {
        try JSONDecoder().decode(ConformanceDocument.self, from: Data(contentsOf: url))
    }

    /// The vectors for parameterized tests (empty when the file cannot be read: `fileLoads` then fails).
    static let all: [ConformanceVector] = (try? load().vectors) ?? []
    static let validVectors = all.filter { if case .decode = $0.expectation { true } else { false } }
    static let refusalVectors = all.filter { if case .refuse = $0.expectation { true } else { false } }
}

private func hexBytes(_ text: String) -> [UInt8] {
    let digits = Array(text.utf8)
    return stride(from: 0, to: digits.count - 1, by: 2).map { index in
        UInt8(String(decoding: digits[index...index + 1], as: UTF8.self), radix: 16) ?? 0
    }
}

// MARK: - Headers as the vector file writes them

private enum ConformanceFields {
    static func name(of code: CommandCode) -> String {
        switch code {
        case .hello: "HELLO"
        case .welcome: "WELCOME"
        case .heartbeat: "HEARTBEAT"
        case .bye: "BYE"
        case .request: "REQUEST"
        case .deliver: "DELIVER"
        case .progress: "PROGRESS"
        case .extended: "EXTENDED"
        case .cancel: "CANCEL"
        case .revoke: "REVOKE"
        case .reply: "REPLY"
        case .result: "RESULT"
        case .error: "ERROR"
        case .status: "STATUS"
        case .statusReply: "STATUS_REPLY"
        case .admin: "ADMIN"
        case .adminReply: "ADMIN_REPLY"
        case .publish: "PUBLISH"
        case .confirm: "CONFIRM"
        case .confirms: "CONFIRMS"
        case .event: "EVENT"
        case .replay: "REPLAY"
        case .gap: "GAP"
        case .replayEnd: "REPLAY_END"
        case .beacon: "BEACON"
        case .gatewayHello: "GATEWAY_HELLO"
        case .forward: "FORWARD"
        }
    }

    private static func u64(_ value: UInt64) -> ConformanceJSON { .string(String(value)) }
    private static func int<T: BinaryInteger>(_ value: T) -> ConformanceJSON { .int(Int(value)) }
    private static func text(_ value: String) -> ConformanceJSON { .string(value) }
    private static func id(_ value: CallbackID) -> ConformanceJSON { .string(value.description) }

    /// The command name and fields of a decoded header.
    static func describe(_ header: Header) -> (String, [String: ConformanceJSON]) {
        let fields: [String: ConformanceJSON]
        switch header {
        case .hello(let h):
            fields = ["instance": u64(h.instance), "agent_id": text(h.agentID), "layer": text(h.layer),
                      "capabilities": .array(h.capabilities.map(text))].merging(features(h.features)) { first, _ in first }
        case .welcome(let w):
            fields = ["heartbeat_ms": int(w.heartbeatMilliseconds), "liveness": int(w.liveness), "max_body": int(w.maxBodyBytes)]
                .merging(features(w.features)) { first, _ in first }
        case .heartbeat, .bye, .status, .statusReply:
            fields = [:]
        case .admin(let a):
            fields = ["action": text(a.action.description), "target": text(a.target)]
        case .adminReply(let r):
            fields = ["status": text(r.status.description), "action": text(r.action.description)]
        case .request(let r):
            fields = request(r)
        case .deliver(let d):
            fields = ["delivery_id": u64(d.deliveryID), "callback_id": id(d.callbackID), "kind": text(d.kind.description),
                      "attempt": int(d.attempt), "timeout_ms": int(d.timeoutMilliseconds), "requester": text(d.requester),
                      "requester_layer": text(d.requesterLayer), "content_type": text(d.contentType)]
        case .progress(let p):
            fields = ["delivery_id": u64(p.deliveryID), "extend_ms": int(p.extendMilliseconds)]
        case .extended(let e):
            fields = ["callback_id": id(e.callbackID), "timeout_ms": int(e.timeoutMilliseconds)]
        case .cancel(let callbackID):
            fields = ["callback_id": id(callbackID)]
        case .revoke(let deliveryID):
            fields = ["delivery_id": u64(deliveryID)]
        case .reply(let r):
            fields = ["delivery_id": u64(r.deliveryID), "status": text(r.status.description)]
        case .result(let r):
            fields = ["callback_id": id(r.callbackID), "status": text(r.status.description), "attempts": int(r.attempts)]
        case .error(let e):
            fields = ["status": text(e.status.description), "command": int(e.command), "callback_id": id(e.callbackID)]
        case .publish(let p):
            fields = ["event_id": id(p.eventID), "topic": text(p.topic.description), "content_type": text(p.contentType)]
        case .confirm(let c):
            fields = ["event_id": id(c.eventID), "sequence": u64(c.sequence), "timestamp": u64(c.timestamp)]
        case .confirms(let b):
            fields = ["first_sequence": u64(b.firstSequence), "timestamp": u64(b.timestamp), "event_ids": .array(b.eventIDs.map(id))]
        case .event(let e):
            fields = ["sequence": u64(e.sequence), "timestamp": u64(e.timestamp), "event_id": id(e.eventID),
                      "topic": text(e.topic.description), "content_type": text(e.contentType)]
        case .replay(let r):
            fields = ["selector": text(r.selector.description), "from": u64(r.from), "to": u64(r.to)]
        case .gap(let g):
            fields = ["topic": text(g.topic.description), "from": u64(g.from), "to": u64(g.to)]
        case .replayEnd(let e):
            fields = ["selector": text(e.selector.description), "events": int(e.events), "truncated": .bool(e.truncated)]
        case .beacon(let b):
            fields = ["topic": text(b.topic.description), "latest": u64(b.latest)]
        case .gatewayHello(let g):
            fields = ["instance": u64(g.instance), "gateway_id": text(g.gatewayID), "token": text(g.token)]
        case .forward(let f):
            fields = request(f.request).merging(["caller": text(f.caller), "caller_layer": text(f.callerLayer)]) { first, _ in first }
        }
        return (name(of: header.code), fields)
    }

    /// A HELLO's or WELCOME's protocol 1.1 `features` field, when the header has the byte.
    private static func features(_ features: Features?) -> [String: ConformanceJSON] {
        features.map { ["features": int($0.rawValue)] } ?? [:]
    }

    private static func request(_ r: Request) -> [String: ConformanceJSON] {
        ["callback_id": id(r.callbackID), "kind": text(r.kind.description), "timeout_ms": int(r.timeoutMilliseconds),
         "target": text(r.target.description), "content_type": text(r.contentType)]
    }

    /// The header a vector's command and fields describe; nil when a field is missing or malformed.
    static func header(_ command: String, _ fields: [String: ConformanceJSON]) -> Header? {
        let reader = FieldReader(fields: fields)
        switch command {
        case "HELLO":
            guard let instance = reader.u64("instance"), let agentID = reader.string("agent_id"), let layer = reader.string("layer"),
                  case .array(let capabilities)? = fields["capabilities"] else { return nil }
            let names = capabilities.compactMap { value -> String? in if case .string(let name) = value { name } else { nil } }
            guard names.count == capabilities.count else { return nil }
            return .hello(Hello(instance: instance, agentID: agentID, layer: layer, capabilities: names,
                                features: (reader.int("features") as UInt8?).map(Features.init(rawValue:))))
        case "WELCOME":
            guard let heartbeat: UInt32 = reader.int("heartbeat_ms"), let liveness: UInt8 = reader.int("liveness"),
                  let maxBody: UInt32 = reader.int("max_body") else { return nil }
            return .welcome(Welcome(heartbeatMilliseconds: heartbeat, liveness: liveness, maxBodyBytes: maxBody,
                                    features: (reader.int("features") as UInt8?).map(Features.init(rawValue:))))
        case "HEARTBEAT": return .heartbeat
        case "BYE": return .bye
        case "STATUS": return .status
        case "STATUS_REPLY": return .statusReply
        case "ADMIN":
            guard let action = reader.adminAction(), let target = reader.string("target") else { return nil }
            return .admin(AdminCommand(action: action, target: target))
        case "ADMIN_REPLY":
            guard let status = reader.status("status"), let action = reader.adminAction() else { return nil }
            return .adminReply(AdminReply(status: status, action: action))
        case "REQUEST":
            return request(reader).map(Header.request)
        case "DELIVER":
            guard let deliveryID = reader.u64("delivery_id"), let callbackID = reader.id("callback_id"), let kind = reader.kind(),
                  let attempt: UInt8 = reader.int("attempt"), let timeout: UInt32 = reader.int("timeout_ms"),
                  let requester = reader.string("requester"), let requesterLayer = reader.string("requester_layer"),
                  let contentType = reader.string("content_type") else { return nil }
            return .deliver(Deliver(deliveryID: deliveryID, callbackID: callbackID, kind: kind, attempt: attempt, timeoutMilliseconds: timeout,
                                    requester: requester, requesterLayer: requesterLayer, contentType: contentType))
        case "PROGRESS":
            guard let deliveryID = reader.u64("delivery_id"), let extend: UInt32 = reader.int("extend_ms") else { return nil }
            return .progress(ProgressReport(deliveryID: deliveryID, extendMilliseconds: extend))
        case "EXTENDED":
            guard let callbackID = reader.id("callback_id"), let timeout: UInt32 = reader.int("timeout_ms") else { return nil }
            return .extended(Extended(callbackID: callbackID, timeoutMilliseconds: timeout))
        case "CANCEL":
            return reader.id("callback_id").map(Header.cancel)
        case "REVOKE":
            return reader.u64("delivery_id").map { .revoke(deliveryID: $0) }
        case "REPLY":
            guard let deliveryID = reader.u64("delivery_id"), let status = reader.status("status") else { return nil }
            return .reply(Reply(deliveryID: deliveryID, status: status))
        case "RESULT":
            guard let callbackID = reader.id("callback_id"), let status = reader.status("status"),
                  let attempts: UInt8 = reader.int("attempts") else { return nil }
            return .result(ResultHeader(callbackID: callbackID, status: status, attempts: attempts))
        case "ERROR":
            guard let status = reader.status("status"), let refused: UInt8 = reader.int("command"),
                  let callbackID = reader.id("callback_id") else { return nil }
            return .error(ErrorNotice(status: status, command: refused, callbackID: callbackID))
        case "PUBLISH":
            guard let eventID = reader.id("event_id"), let topic = reader.topic("topic"), let contentType = reader.string("content_type") else { return nil }
            return .publish(Publish(eventID: eventID, topic: topic, contentType: contentType))
        case "CONFIRM":
            guard let eventID = reader.id("event_id"), let sequence = reader.u64("sequence"), let timestamp = reader.u64("timestamp") else { return nil }
            return .confirm(Confirm(eventID: eventID, sequence: sequence, timestamp: timestamp))
        case "CONFIRMS":
            guard let first = reader.u64("first_sequence"), let timestamp = reader.u64("timestamp"),
                  case .array(let values)? = fields["event_ids"] else { return nil }
            let ids = values.compactMap { value -> CallbackID? in if case .string(let hex) = value { CallbackID(hex: hex) } else { nil } }
            guard ids.count == values.count else { return nil }
            return .confirms(ConfirmBatch(firstSequence: first, timestamp: timestamp, eventIDs: ids))
        case "EVENT":
            guard let sequence = reader.u64("sequence"), let timestamp = reader.u64("timestamp"), let eventID = reader.id("event_id"),
                  let topic = reader.topic("topic"), let contentType = reader.string("content_type") else { return nil }
            return .event(EventHeader(sequence: sequence, timestamp: timestamp, eventID: eventID, topic: topic, contentType: contentType))
        case "REPLAY":
            guard let selector = reader.selector("selector"), let from = reader.u64("from"), let to = reader.u64("to") else { return nil }
            return .replay(Replay(selector: selector, from: from, to: to))
        case "GAP":
            guard let topic = reader.topic("topic"), let from = reader.u64("from"), let to = reader.u64("to") else { return nil }
            return .gap(Gap(topic: topic, from: from, to: to))
        case "REPLAY_END":
            guard let selector = reader.selector("selector"), let events: UInt32 = reader.int("events"),
                  case .bool(let truncated)? = fields["truncated"] else { return nil }
            return .replayEnd(ReplayEnd(selector: selector, events: events, truncated: truncated))
        case "BEACON":
            guard let topic = reader.topic("topic"), let latest = reader.u64("latest") else { return nil }
            return .beacon(Beacon(topic: topic, latest: latest))
        case "GATEWAY_HELLO":
            guard let instance = reader.u64("instance"), let gatewayID = reader.string("gateway_id"), let token = reader.string("token") else { return nil }
            return .gatewayHello(GatewayHello(instance: instance, gatewayID: gatewayID, token: token))
        case "FORWARD":
            guard let request = request(reader), let caller = reader.string("caller"), let callerLayer = reader.string("caller_layer") else { return nil }
            return .forward(Forward(request: request, caller: caller, callerLayer: callerLayer))
        default:
            return nil
        }
    }

    private static func request(_ reader: FieldReader) -> Request? {
        guard let callbackID = reader.id("callback_id"), let kind = reader.kind(), let timeout: UInt32 = reader.int("timeout_ms"),
              let targetText = reader.string("target"), let target = Target(targetText),
              let contentType = reader.string("content_type") else { return nil }
        return Request(callbackID: callbackID, kind: kind, timeoutMilliseconds: timeout, target: target, contentType: contentType)
    }

    private struct FieldReader {
        let fields: [String: ConformanceJSON]

        func string(_ key: String) -> String? {
            if case .string(let value)? = fields[key] { return value }
            return nil
        }

        func u64(_ key: String) -> UInt64? { string(key).flatMap { UInt64($0) } }

        func int<T: FixedWidthInteger>(_ key: String) -> T? {
            if case .int(let value)? = fields[key] { return T(exactly: value) }
            return nil
        }

        func id(_ key: String) -> CallbackID? { string(key).flatMap { CallbackID(hex: $0) } }

        func kind() -> RequestKind? { RequestKind.allCases.first { $0.description == string("kind") } }

        func adminAction() -> AdminAction? { AdminAction.allCases.first { $0.description == string("action") } }

        func status(_ key: String) -> Status? { Status.allCases.first { $0.description == string(key) } }

        func topic(_ key: String) -> Topic? { string(key).flatMap { Topic($0) } }

        func selector(_ key: String) -> TopicSelector? { string(key).flatMap { TopicSelector($0) } }
    }
}

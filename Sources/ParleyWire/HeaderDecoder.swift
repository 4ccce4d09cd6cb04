/// Decodes and validates header frames. Pure: no sockets, no Foundation.
public enum HeaderDecoder {
    /// Decodes one header frame, checking signature, version, field bounds and naming rules.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> Header {
        guard bytes.count >= 3 else { throw .tooShort(bytes.count) }
        guard bytes[0] == protocolSignature else { throw .badSignature(bytes[0]) }
        guard bytes[1] == protocolVersion else { throw .unsupportedVersion(bytes[1]) }
        guard let code = CommandCode(rawValue: bytes[2]) else { throw .unknownCommand(bytes[2]) }
        var reader = Reader(bytes: bytes, offset: 3)
        let header = try decodeBody(code, &reader)
        guard reader.remaining == 0 else { throw .trailingBytes(reader.remaining) }
        return header
    }

    /// Decodes a header held in an array (tests, tools).
    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> Header {
        do {
            return try bytes.withUnsafeBytes { raw in try decode(raw) }
        } catch let error as DecodeError {
            throw error
        } catch {
            preconditionFailure("decode throws only DecodeError")
        }
    }

    /// The callback id of a REQUEST or FORWARD header whose later fields are bad, so the refusal can name it.
    public static func requestCallbackID(_ bytes: UnsafeRawBufferPointer) -> CallbackID? {
        guard bytes.count >= 19, bytes[0] == protocolSignature, bytes[1] == protocolVersion,
              bytes[2] == CommandCode.request.rawValue || bytes[2] == CommandCode.forward.rawValue else { return nil }
        var reader = Reader(bytes: bytes, offset: 3)
        return try? reader.callbackID("callback id")
    }

    private static func decodeBody(_ code: CommandCode, _ reader: inout Reader) throws(DecodeError) -> Header {
        switch code {
        case .hello:
            let instance: UInt64 = try reader.integer("instance")
            let agentID = try reader.name("agent id", problem: Names.agentProblem)
            let layer = try reader.name("layer", problem: Names.layerProblem)
            let count = Int(try reader.byte("capability count"))
            guard count <= Names.maxCapabilities else {
                throw .invalidField(field: "capability count", problem: "\(count) exceeds \(Names.maxCapabilities)")
            }
            var capabilities: [String] = []
            capabilities.reserveCapacity(count)
            for _ in 0..<count { capabilities.append(try reader.name("capability", problem: Names.capabilityProblem)) }
            return .hello(Hello(instance: instance, agentID: agentID, layer: layer, capabilities: capabilities,
                                features: try reader.features()))
        case .welcome:
            return .welcome(Welcome(heartbeatMilliseconds: try reader.integer("heartbeat"),
                                    liveness: try reader.byte("liveness"),
                                    maxBodyBytes: try reader.integer("max body"), features: try reader.features()))
        case .heartbeat: return .heartbeat
        case .bye: return .bye
        case .status: return .status
        case .statusReply: return .statusReply
        case .admin:
            let action = try reader.adminAction()
            return .admin(AdminCommand(action: action, target: try reader.string("target")))
        case .adminReply:
            return .adminReply(AdminReply(status: try reader.status(), action: try reader.adminAction()))
        case .request:
            return .request(try reader.request())
        case .deliver:
            return .deliver(Deliver(deliveryID: try reader.integer("delivery id"), callbackID: try reader.callbackID("callback id"),
                                    kind: try reader.kind(), attempt: try reader.byte("attempt"),
                                    timeoutMilliseconds: try reader.integer("timeout"), requester: try reader.string("requester"),
                                    requesterLayer: try reader.string("requester layer"), contentType: try reader.contentType()))
        case .progress:
            return .progress(ProgressReport(deliveryID: try reader.integer("delivery id"), extendMilliseconds: try reader.integer("extend")))
        case .extended:
            return .extended(Extended(callbackID: try reader.callbackID("callback id"), timeoutMilliseconds: try reader.integer("timeout")))
        case .cancel:
            return .cancel(try reader.callbackID("callback id"))
        case .revoke:
            return .revoke(deliveryID: try reader.integer("delivery id"))
        case .reply:
            let deliveryID: UInt64 = try reader.integer("delivery id")
            let status = try reader.status()
            guard status.isHandlerStatus else {
                throw .invalidField(field: "status", problem: "a handler may reply OK, DECLINED or FAILED, not \(status)")
            }
            return .reply(Reply(deliveryID: deliveryID, status: status))
        case .result:
            return .result(ResultHeader(callbackID: try reader.callbackID("callback id"), status: try reader.status(),
                                  attempts: try reader.byte("attempts")))
        case .error:
            return .error(ErrorNotice(status: try reader.status(), command: try reader.byte("command"),
                                      callbackID: try reader.callbackID("callback id")))
        case .publish:
            return .publish(Publish(eventID: try reader.callbackID("event id"), topic: try reader.topic(),
                                    contentType: try reader.contentType()))
        case .confirm:
            return .confirm(Confirm(eventID: try reader.callbackID("event id"), sequence: try reader.integer("sequence"),
                                    timestamp: try reader.integer("timestamp")))
        case .confirms:
            let firstSequence: UInt64 = try reader.integer("first sequence")
            let timestamp: UInt64 = try reader.integer("timestamp")
            let count = Int(try reader.integer("count") as UInt16)
            guard (1...ConfirmBatch.maxCount).contains(count) else {
                throw .invalidField(field: "count", problem: "\(count) is not from 1 to \(ConfirmBatch.maxCount)")
            }
            guard firstSequence >= 1 else { throw .invalidField(field: "first sequence", problem: "sequences start at 1") }
            var eventIDs: [CallbackID] = []
            eventIDs.reserveCapacity(count)
            for _ in 0..<count { eventIDs.append(try reader.callbackID("event id")) }
            return .confirms(ConfirmBatch(firstSequence: firstSequence, timestamp: timestamp, eventIDs: eventIDs))
        case .event:
            return .event(EventHeader(sequence: try reader.integer("sequence"), timestamp: try reader.integer("timestamp"),
                                      eventID: try reader.callbackID("event id"), topic: try reader.topic(),
                                      contentType: try reader.contentType()))
        case .replay:
            let selector = try reader.selector()
            let from: UInt64 = try reader.integer("from")
            let to: UInt64 = try reader.integer("to")
            guard from >= 1 else { throw .invalidField(field: "from", problem: "sequences start at 1") }
            guard to == 0 || to >= from else { throw .invalidField(field: "to", problem: "\(to) is before from \(from)") }
            return .replay(Replay(selector: selector, from: from, to: to))
        case .gap:
            return .gap(Gap(topic: try reader.topic(), from: try reader.integer("from"), to: try reader.integer("to")))
        case .replayEnd:
            let selector = try reader.selector()
            let events: UInt32 = try reader.integer("events")
            let truncated = try reader.byte("truncated")
            guard truncated <= 1 else { throw .invalidField(field: "truncated", problem: "must be 0 or 1, not \(truncated)") }
            return .replayEnd(ReplayEnd(selector: selector, events: events, truncated: truncated == 1))
        case .beacon:
            return .beacon(Beacon(topic: try reader.topic(), latest: try reader.integer("latest")))
        case .gatewayHello:
            return .gatewayHello(GatewayHello(instance: try reader.integer("instance"),
                                              gatewayID: try reader.name("gateway id", problem: Names.agentProblem),
                                              token: try reader.string("token")))
        case .forward:
            return .forward(Forward(request: try reader.request(), caller: try reader.name("caller", problem: Names.agentProblem),
                                    callerLayer: try reader.name("caller layer", problem: Names.layerProblem)))
        }
    }
}

/// A bounds-checked cursor over header bytes.
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int

    var remaining: Int { bytes.count - offset }

    mutating func byte(_ field: String) throws(DecodeError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(field: field) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func integer<T: FixedWidthInteger>(_ field: String) throws(DecodeError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated(field: field) }
        var value: T = 0
        for index in offset..<(offset + size) { value = value << 8 | T(bytes[index]) }
        offset += size
        return value
    }

    mutating func callbackID(_ field: String) throws(DecodeError) -> CallbackID {
        CallbackID(high: try integer(field), low: try integer(field))
    }

    /// The protocol 1.1 features byte that may end a HELLO or WELCOME; nil when the header ends before it.
    mutating func features() throws(DecodeError) -> Features? {
        remaining == 0 ? nil : Features(rawValue: try byte("features"))
    }

    /// A length-prefixed field's bytes, not yet checked.
    mutating func field(_ field: String) throws(DecodeError) -> UnsafeRawBufferPointer {
        let length = Int(try byte(field))
        guard remaining >= length else { throw .truncated(field: field) }
        defer { offset += length }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)])
    }

    mutating func string(_ field: String) throws(DecodeError) -> String {
        let slice = try self.field(field)
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw .invalidField(field: field, problem: "not valid UTF-8")
        }
        return text
    }

    /// A content type; the common ones come back as string literals, which need no allocation (a decoded
    /// "application/json", 16 bytes, is one byte too long to be stored inline in a String).
    mutating func contentType() throws(DecodeError) -> String {
        let slice = try field("content type")
        if slice.equals("application/json") { return "application/json" }
        if slice.equals("text/plain") { return "text/plain" }
        if slice.equals("application/octet-stream") { return "application/octet-stream" }
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw .invalidField(field: "content type", problem: "not valid UTF-8")
        }
        return text
    }

    mutating func name(_ field: String, problem: (String) -> String?) throws(DecodeError) -> String {
        let text = try string(field)
        if let reason = problem(text) { throw .invalidField(field: field, problem: reason) }
        return text
    }

    mutating func request() throws(DecodeError) -> Request {
        let callbackID = try callbackID("callback id")
        let kind = try kind()
        let timeout: UInt32 = try integer("timeout")
        guard timeout > 0 else { throw .invalidField(field: "timeout", problem: "must be at least 1 ms") }
        let targetBytes = try field("target")
        guard let target = Target(wire: targetBytes) else {
            guard let text = String(validating: targetBytes, as: UTF8.self) else {
                throw .invalidField(field: "target", problem: "not valid UTF-8")
            }
            throw .invalidField(field: "target", problem: "'\(text)' is not agent:<id>, cap:<name> or layer:<name>[/<cap>]")
        }
        return Request(callbackID: callbackID, kind: kind, timeoutMilliseconds: timeout, target: target,
                       contentType: try contentType())
    }

    mutating func topic() throws(DecodeError) -> Topic {
        let bytes = try field("topic")
        if let topic = Topic(wire: bytes) { return topic }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidField(field: "topic", problem: "not valid UTF-8") }
        throw .invalidField(field: "topic", problem: Topic.problem(text) ?? "not callback.<agent>.<event>")
    }

    mutating func selector() throws(DecodeError) -> TopicSelector {
        let text = try string("topic")
        guard let selector = TopicSelector(text) else {
            throw .invalidField(field: "topic", problem: "'\(text.prefix(80))' is neither callback.<agent>.<event> nor callback.<agent>.")
        }
        return selector
    }

    mutating func kind() throws(DecodeError) -> RequestKind {
        let raw = try byte("kind")
        guard let kind = RequestKind(rawValue: raw) else { throw .invalidField(field: "kind", problem: "unknown kind \(raw)") }
        return kind
    }

    mutating func adminAction() throws(DecodeError) -> AdminAction {
        let raw = try byte("action")
        guard let action = AdminAction(rawValue: raw) else { throw .invalidField(field: "action", problem: "unknown admin action \(raw)") }
        return action
    }

    mutating func status() throws(DecodeError) -> Status {
        let raw = try byte("status")
        guard let status = Status(rawValue: raw) else { throw .invalidField(field: "status", problem: "unknown status \(raw)") }
        return status
    }
}

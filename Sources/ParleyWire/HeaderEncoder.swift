/// Encodes headers into bytes: big-endian integers, strings as a length byte plus UTF-8.
public enum HeaderEncoder {
    /// Appends the encoding of `header` to `bytes` (callers reuse one buffer to avoid allocations).
    public static func encode(_ header: Header, into bytes: inout [UInt8]) {
        putPrefix(header.code, &bytes)
        switch header {
        case .hello(let hello):
            put(hello.instance, &bytes)
            put(hello.agentID, &bytes)
            put(hello.layer, &bytes)
            bytes.append(UInt8(truncatingIfNeeded: hello.capabilities.count))
            for capability in hello.capabilities { put(capability, &bytes) }
            if let features = hello.features { bytes.append(features.rawValue) }
        case .welcome(let welcome):
            put(welcome.heartbeatMilliseconds, &bytes)
            bytes.append(welcome.liveness)
            put(welcome.maxBodyBytes, &bytes)
            if let features = welcome.features { bytes.append(features.rawValue) }
        case .heartbeat, .bye, .status, .statusReply:
            break
        case .admin(let admin):
            bytes.append(admin.action.rawValue)
            put(admin.target, &bytes)
        case .adminReply(let reply):
            bytes.append(reply.status.rawValue)
            bytes.append(reply.action.rawValue)
        case .request(let request):
            put(request, &bytes)
        case .deliver(let deliver):
            putDeliver(deliveryID: deliver.deliveryID, callbackID: deliver.callbackID, kind: deliver.kind, attempt: deliver.attempt,
                       timeoutMilliseconds: deliver.timeoutMilliseconds, requester: deliver.requester,
                       requesterLayer: deliver.requesterLayer, contentType: deliver.contentType, &bytes)
        case .progress(let progress):
            put(progress.deliveryID, &bytes)
            put(progress.extendMilliseconds, &bytes)
        case .extended(let extended):
            put(extended.callbackID, &bytes)
            put(extended.timeoutMilliseconds, &bytes)
        case .cancel(let callbackID):
            put(callbackID, &bytes)
        case .revoke(let deliveryID):
            put(deliveryID, &bytes)
        case .reply(let reply):
            put(reply.deliveryID, &bytes)
            bytes.append(reply.status.rawValue)
        case .result(let result):
            putResult(callbackID: result.callbackID, status: result.status, attempts: result.attempts, &bytes)
        case .error(let notice):
            bytes.append(notice.status.rawValue)
            bytes.append(notice.command)
            put(notice.callbackID, &bytes)
        case .publish(let publish):
            put(publish.eventID, &bytes)
            put(publish.topic, &bytes)
            put(publish.contentType, &bytes)
        case .confirm(let confirm):
            putConfirm(confirm, &bytes)
        case .confirms(let batch):
            put(batch.firstSequence, &bytes)
            put(batch.timestamp, &bytes)
            put(UInt16(truncatingIfNeeded: batch.eventIDs.count), &bytes)
            for eventID in batch.eventIDs { put(eventID, &bytes) }
        case .event(let event):
            putEvent(event, &bytes)
        case .replay(let replay):
            put(replay.selector.description, &bytes)
            put(replay.from, &bytes)
            put(replay.to, &bytes)
        case .gap(let gap):
            put(gap.topic, &bytes)
            put(gap.from, &bytes)
            put(gap.to, &bytes)
        case .replayEnd(let end):
            put(end.selector.description, &bytes)
            put(end.events, &bytes)
            bytes.append(end.truncated ? 1 : 0)
        case .beacon(let beacon):
            put(beacon.topic, &bytes)
            put(beacon.latest, &bytes)
        case .gatewayHello(let hello):
            put(hello.instance, &bytes)
            put(hello.gatewayID, &bytes)
            put(hello.token, &bytes)
        case .forward(let forward):
            put(forward.request, &bytes)
            put(forward.caller, &bytes)
            put(forward.callerLayer, &bytes)
        }
    }

    // The messages a broker sends most, appended field by field without a `Header` value.

    /// Appends a whole DELIVER header.
    public static func encodeDeliver(deliveryID: UInt64, callbackID: CallbackID, kind: RequestKind, attempt: UInt8,
                                     timeoutMilliseconds: UInt32, requester: String, requesterLayer: String, contentType: String,
                                     into bytes: inout [UInt8]) {
        putPrefix(.deliver, &bytes)
        putDeliver(deliveryID: deliveryID, callbackID: callbackID, kind: kind, attempt: attempt, timeoutMilliseconds: timeoutMilliseconds,
                   requester: requester, requesterLayer: requesterLayer, contentType: contentType, &bytes)
    }

    /// Appends a whole RESULT header.
    public static func encodeResult(callbackID: CallbackID, status: Status, attempts: UInt8, into bytes: inout [UInt8]) {
        putPrefix(.result, &bytes)
        putResult(callbackID: callbackID, status: status, attempts: attempts, &bytes)
    }

    /// Appends a whole CONFIRM header.
    public static func encodeConfirm(_ confirm: Confirm, into bytes: inout [UInt8]) {
        putPrefix(.confirm, &bytes)
        putConfirm(confirm, &bytes)
    }

    /// Appends a CONFIRMS header's fixed part for `count` events; the caller appends their ids (``appendEventID``).
    public static func encodeConfirmsPrefix(firstSequence: UInt64, timestamp: UInt64, count: Int, into bytes: inout [UInt8]) {
        putPrefix(.confirms, &bytes)
        put(firstSequence, &bytes)
        put(timestamp, &bytes)
        put(UInt16(truncatingIfNeeded: count), &bytes)
    }

    /// Appends one event id of a CONFIRMS.
    public static func appendEventID(_ eventID: CallbackID, into bytes: inout [UInt8]) {
        put(eventID, &bytes)
    }

    /// Appends a whole EVENT header.
    public static func encodeEvent(_ event: EventHeader, into bytes: inout [UInt8]) {
        putPrefix(.event, &bytes)
        putEvent(event, &bytes)
    }

    private static func putPrefix(_ code: CommandCode, _ bytes: inout [UInt8]) {
        bytes.append(protocolSignature)
        bytes.append(protocolVersion)
        bytes.append(code.rawValue)
    }

    private static func putDeliver(deliveryID: UInt64, callbackID: CallbackID, kind: RequestKind, attempt: UInt8,
                                   timeoutMilliseconds: UInt32, requester: String, requesterLayer: String, contentType: String,
                                   _ bytes: inout [UInt8]) {
        put(deliveryID, &bytes)
        put(callbackID, &bytes)
        bytes.append(kind.rawValue)
        bytes.append(attempt)
        put(timeoutMilliseconds, &bytes)
        put(requester, &bytes)
        put(requesterLayer, &bytes)
        put(contentType, &bytes)
    }

    private static func putResult(callbackID: CallbackID, status: Status, attempts: UInt8, _ bytes: inout [UInt8]) {
        put(callbackID, &bytes)
        bytes.append(status.rawValue)
        bytes.append(attempts)
    }

    private static func putConfirm(_ confirm: Confirm, _ bytes: inout [UInt8]) {
        put(confirm.eventID, &bytes)
        put(confirm.sequence, &bytes)
        put(confirm.timestamp, &bytes)
    }

    private static func putEvent(_ event: EventHeader, _ bytes: inout [UInt8]) {
        put(event.sequence, &bytes)
        put(event.timestamp, &bytes)
        put(event.eventID, &bytes)
        put(event.topic, &bytes)
        put(event.contentType, &bytes)
    }

    private static func put(_ request: Request, _ bytes: inout [UInt8]) {
        put(request.callbackID, &bytes)
        bytes.append(request.kind.rawValue)
        put(request.timeoutMilliseconds, &bytes)
        put(request.target, &bytes)
        put(request.contentType, &bytes)
    }

    /// The encoding of `header` as a new array.
    public static func encode(_ header: Header) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(64)
        encode(header, into: &bytes)
        return bytes
    }

    private static func put<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8]) {
        var big = value.bigEndian
        withUnsafeBytes(of: &big) { bytes.append(contentsOf: $0) }
    }

    private static func put(_ id: CallbackID, _ bytes: inout [UInt8]) {
        put(id.high, &bytes)
        put(id.low, &bytes)
    }

    /// Strings longer than 255 bytes are cut to 255: the naming rules keep every valid name far below that.
    private static func put(_ text: String, _ bytes: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in
            let length = min(utf8.count, 255)
            bytes.append(UInt8(length))
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[..<length]))
        }
    }

    /// `agent:<id>`, `cap:<name>`, `layer:<layer>` or `layer:<layer>/<capability>` (the target's `description`),
    /// written without building the String.
    private static func put(_ target: Target, _ bytes: inout [UInt8]) {
        switch target {
        case .agent(let id): put(prefix: "agent:", id, nil, &bytes)
        case .capability(let name): put(prefix: "cap:", name, nil, &bytes)
        case .layer(let layer, let capability): put(prefix: "layer:", layer, capability, &bytes)
        }
    }

    /// A `str8` of `prefix`, `name` and, when given, `/` and `suffix`, cut to 255 bytes like every string.
    private static func put(prefix: StaticString, _ name: String, _ suffix: String?, _ bytes: inout [UInt8]) {
        var name = name
        let slash = suffix == nil ? 0 : 1
        var suffix = suffix ?? ""
        name.withUTF8 { name in
            suffix.withUTF8 { suffix in
                var left = min(prefix.utf8CodeUnitCount + name.count + slash + suffix.count, 255)
                bytes.append(UInt8(left))
                func append(_ part: UnsafeBufferPointer<UInt8>) {
                    let count = min(part.count, left)
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: part[..<count]))
                    left -= count
                }
                append(UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
                append(name)
                if slash == 1, left > 0 {
                    bytes.append(UInt8(ascii: "/"))
                    left -= 1
                }
                append(suffix)
            }
        }
    }

    /// `callback.<agent>.<event>`, written without building the String (both names are at most 64 bytes).
    private static func put(_ topic: Topic, _ bytes: inout [UInt8]) {
        var agent = topic.agent
        var event = topic.event
        agent.withUTF8 { agent in
            event.withUTF8 { event in
                let prefix: StaticString = "callback."
                bytes.append(UInt8(truncatingIfNeeded: min(prefix.utf8CodeUnitCount + agent.count + 1 + event.count, 255)))
                bytes.append(contentsOf: UnsafeBufferPointer(start: prefix.utf8Start, count: prefix.utf8CodeUnitCount))
                bytes.append(contentsOf: agent)
                bytes.append(UInt8(ascii: "."))
                bytes.append(contentsOf: event)
            }
        }
    }
}

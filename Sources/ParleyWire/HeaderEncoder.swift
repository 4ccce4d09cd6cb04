/// Encodes headers into bytes: big-endian integers, strings as a length byte plus UTF-8.
public enum HeaderEncoder {
    /// Appends the encoding of `header` to `bytes` (callers reuse one buffer to avoid allocations).
    public static func encode(_ header: Header, into bytes: inout [UInt8]) {
        bytes.append(protocolSignature)
        bytes.append(protocolVersion)
        bytes.append(header.code.rawValue)
        switch header {
        case .hello(let hello):
            put(hello.instance, &bytes)
            put(hello.agentID, &bytes)
            put(hello.layer, &bytes)
            bytes.append(UInt8(truncatingIfNeeded: hello.capabilities.count))
            for capability in hello.capabilities { put(capability, &bytes) }
        case .welcome(let welcome):
            put(welcome.heartbeatMilliseconds, &bytes)
            bytes.append(welcome.liveness)
            put(welcome.maxBodyBytes, &bytes)
        case .heartbeat, .bye, .status, .statusReply:
            break
        case .request(let request):
            put(request, &bytes)
        case .deliver(let deliver):
            put(deliver.deliveryID, &bytes)
            put(deliver.callbackID, &bytes)
            bytes.append(deliver.kind.rawValue)
            bytes.append(deliver.attempt)
            put(deliver.timeoutMilliseconds, &bytes)
            put(deliver.requester, &bytes)
            put(deliver.requesterLayer, &bytes)
            put(deliver.contentType, &bytes)
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
            put(result.callbackID, &bytes)
            bytes.append(result.status.rawValue)
            bytes.append(result.attempts)
        case .error(let notice):
            bytes.append(notice.status.rawValue)
            bytes.append(notice.command)
            put(notice.callbackID, &bytes)
        case .publish(let publish):
            put(publish.eventID, &bytes)
            put(publish.topic, &bytes)
            put(publish.contentType, &bytes)
        case .confirm(let confirm):
            put(confirm.eventID, &bytes)
            put(confirm.sequence, &bytes)
            put(confirm.timestamp, &bytes)
        case .event(let event):
            put(event.sequence, &bytes)
            put(event.timestamp, &bytes)
            put(event.eventID, &bytes)
            put(event.topic, &bytes)
            put(event.contentType, &bytes)
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

    private static func put(_ request: Request, _ bytes: inout [UInt8]) {
        put(request.callbackID, &bytes)
        bytes.append(request.kind.rawValue)
        put(request.timeoutMilliseconds, &bytes)
        put(request.target.description, &bytes)
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

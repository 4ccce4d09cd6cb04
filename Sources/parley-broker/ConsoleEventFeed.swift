import Foundation
import Logging
import ParleyOperations
import ParleyWire
import ZeroMQ

/// The console's event tail: a SUB socket on the broker's own events endpoint, like any subscriber, on a thread of
/// its own for the life of the process. Each EVENT becomes a stream item; a jump in a topic's sequence, or a BEACON
/// naming a later sequence than the last one seen, becomes a GAP item (the console does not REPLAY). The reactor does
/// nothing more than for any other subscriber, only while a console streams events, and a slow console only loses its
/// own copies (the XPUB drops them).
enum ConsoleEventFeed {
    /// The first bytes of an event's payload the tail shows.
    static let previewBytes = 200

    /// Subscribes to every event on `endpoint` and offers them to `hub`, from a new thread.
    static func start(endpoint: String, hub: EventStreamHub, logger: Logger) {
        let thread = Thread {
            do {
                try follow(endpoint, hub)
            } catch {
                logger.error("console event tail stopped", metadata: ["event": "console_tail_failed", "error": "\(error)"])
            }
        }
        thread.name = "parley-console-events"
        thread.start()
    }

    /// Subscribes only while a console client streams events (checked every 200 ms): with none, the broker sends
    /// this socket nothing and this thread encodes nothing.
    private static func follow(_ endpoint: String, _ hub: EventStreamHub) throws {
        let context = try Context()
        let socket = try Socket(context, type: .sub)
        try socket.setLinger(milliseconds: 0)
        try socket.setReceiveTimeout(milliseconds: 200)
        try socket.connect(endpoint)
        var latest: [Topic: UInt64] = [:]
        var subscribed = false
        while true {
            if (hub.clientCount > 0) != subscribed {
                subscribed.toggle()
                if subscribed { try socket.subscribe("callback.") } else { try socket.unsubscribe("callback.") }
                latest.removeAll()  // what was missed while not subscribed is no GAP
            }
            guard let frames = try socket.receiveMultipart(), frames.count >= 2,
                  let header = try? HeaderDecoder.decode(frames[1].bytes) else { continue }
            switch header {
            case .event(let event):
                if let last = latest[event.topic], event.sequence > last + 1 {
                    hub.offer(gap(event.topic, from: last + 1, to: event.sequence - 1, noticedBy: "sequence"))
                }
                latest[event.topic] = event.sequence  // lower after a broker restart without a journal: start over
                hub.offer(item(event, body: frames.count > 2 ? frames[2].bytes : []))
            case .beacon(let beacon):
                if let last = latest[beacon.topic], beacon.latest > last {
                    hub.offer(gap(beacon.topic, from: last + 1, to: beacon.latest, noticedBy: "beacon"))
                    latest[beacon.topic] = beacon.latest
                }
            default:
                continue
            }
        }
    }

    /// `{"type":"event","topic":…,"agent":…,"event":…,"sequence":…,"timestamp":…,"content_type":…,"bytes":…,"data":…}`
    private static func item(_ event: EventHeader, body: [UInt8]) -> StreamItem {
        var json = JSONWriter(capacity: 256 + previewBytes)
        json.openObject()
        json.key(fixed: "type")
        json.string("event")
        members(&json, event.topic)
        json.key(fixed: "sequence")
        json.integer(event.sequence)
        json.key(fixed: "timestamp")
        json.integer(event.timestamp)
        json.key(fixed: "content_type")
        json.string(event.contentType)
        json.key(fixed: "bytes")
        json.integer(body.count)
        json.key(fixed: "data")
        json.string(String(decoding: body.prefix(previewBytes), as: UTF8.self))
        json.closeObject()
        return StreamItem(agent: event.topic.agent, json: String(decoding: json.bytes, as: UTF8.self))
    }

    /// `{"type":"gap","topic":…,"agent":…,"event":…,"from":…,"to":…,"noticed_by":"sequence"|"beacon"}`
    private static func gap(_ topic: Topic, from: UInt64, to: UInt64, noticedBy: String) -> StreamItem {
        var json = JSONWriter(capacity: 256)
        json.openObject()
        json.key(fixed: "type")
        json.string("gap")
        members(&json, topic)
        json.key(fixed: "from")
        json.integer(from)
        json.key(fixed: "to")
        json.integer(to)
        json.key(fixed: "noticed_by")
        json.string(noticedBy)
        json.closeObject()
        return StreamItem(agent: topic.agent, json: String(decoding: json.bytes, as: UTF8.self))
    }

    private static func members(_ json: inout JSONWriter, _ topic: Topic) {
        json.key(fixed: "topic")
        json.string(topic.description)
        json.key(fixed: "agent")
        json.string(topic.agent)
        json.key(fixed: "event")
        json.string(topic.event)
    }
}

import Foundation
import Parley
import ParleyWire
import ZeroMQ

/// `parley tail` for patterns across agents, without replay: a SUB on the events socket subscribed to every
/// event, printing those the pattern matches. A jump in a topic's sequence is printed as missed (the SDK's
/// subscriptions repair them by REPLAY, which needs one agent or topic). Runs on a thread of its own.
struct LiveTail: Sendable {
    let eventsEndpoint: String
    let curve: CurveKeys?
    let pattern: TopicPattern
    /// Stop after this many events; nil: until the process is interrupted.
    let count: Int?

    /// Follows the events until `count` were printed (or forever), off the cooperative pool.
    func run() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            Thread { continuation.resume(with: Result { try follow() }) }.start()
        }
    }

    private func follow() throws {
        let context = try Context()
        let socket = try Socket(context, type: .sub)
        defer { socket.close() }
        try socket.setLinger(milliseconds: 0)
        if let curve {
            try socket.setCurveKeys(publicKey: curve.publicKey, secretKey: curve.secretKey)
            try socket.setCurveServerKey(curve.brokerKey)
        }
        try socket.subscribe("callback.")
        try socket.connect(eventsEndpoint)
        var latest: [Topic: UInt64] = [:]
        var seen = 0
        while count.map({ seen < $0 }) ?? true {
            guard let frames = try socket.receiveMultipart(), frames.count >= 2,
                  case .event(let event)? = try? HeaderDecoder.decode(frames[1].bytes), pattern.matches(event.topic) else { continue }
            if let last = latest[event.topic], event.sequence > last + 1 {
                print("MISSED \(event.topic) #\(last + 1)…#\(event.sequence - 1): dropped on the way (tail one agent with --from to replay)")
            }
            latest[event.topic] = max(latest[event.topic] ?? 0, event.sequence)
            let body = frames.count > 2 ? frames[2].bytes : []
            print(TailLine.event(topic: event.topic, sequence: event.sequence, timestamp: event.timestamp, replayed: false, data: body))
            fflush(nil)
            seen += 1
        }
    }
}

/// How `parley tail` prints one event.
enum TailLine {
    static func event(topic: Topic, sequence: UInt64, timestamp: UInt64, replayed: Bool, data: [UInt8]) -> String {
        let time = Date(timeIntervalSince1970: Double(timestamp) / 1_000).formatted(.iso8601)
        return "\(topic) #\(sequence) \(time)\(replayed ? " (replayed)" : "") \(String(decoding: data, as: UTF8.self))"
    }
}

import Foundation
import ZeroMQ

/// Asks a broker for its state (STATUS → STATUS_REPLY). Needs no registration.
public enum BrokerStatus {
    /// The broker's state, or `ParleyError.brokerUnreachable` when no reply arrives within `timeout`.
    public static func fetch(endpoint: String, timeout: Duration = .seconds(3)) async throws -> BrokerSnapshot {
        let answer = try await StatusAnswer.ask(endpoint: endpoint, timeoutMilliseconds: timeout.wholeMilliseconds, refusalEnds: false)
        guard case .reply(let bytes) = answer else { throw ParleyError.brokerUnreachable(endpoint: endpoint) }
        do {
            return try JSONDecoder().decode(BrokerSnapshot.self, from: Data(bytes))
        } catch {
            throw ParleyError.payload("unreadable STATUS_REPLY: \(error)")
        }
    }
}

/// What a STATUS sent to a broker or a gateway got back.
public enum StatusAnswer: Sendable {
    /// The STATUS_REPLY's body (a JSON document).
    case reply([UInt8])
    /// An ERROR came back (only when asked with `refusalEnds`).
    case refused
    /// Nothing usable within the timeout.
    case silent

    /// One STATUS round trip on a short-lived DEALER, on a thread of its own (off the cooperative pool). With
    /// `refusalEnds`, an ERROR ends the wait; without, it is ignored (a broker refuses STATUS asked too often).
    public static func ask(endpoint: String, timeoutMilliseconds: UInt64, refusalEnds: Bool) async throws -> StatusAnswer {
        try await onOwnThread {
            let context = try Context()
            let socket = try Socket(context, type: .dealer)
            defer { socket.close() }
            try socket.setLinger(milliseconds: 0)
            try socket.connect(endpoint)
            try socket.send(HeaderEncoder.encode(.status))
            var poller = Poller()
            poller.add(socket)
            let deadline = MonotonicClock.milliseconds() + timeoutMilliseconds
            while MonotonicClock.milliseconds() < deadline {
                _ = try poller.poll(timeoutMilliseconds: Int(deadline &- MonotonicClock.milliseconds()))
                guard let frames = try socket.receiveMultipart(dontWait: true) else { continue }
                switch try? HeaderDecoder.decode(frames[0].bytes) {
                case .statusReply? where frames.count == 2: return .reply(frames[1].bytes)
                case .error? where refusalEnds: return .refused
                default: continue
                }
            }
            return .silent
        }
    }
}

/// Runs blocking work on a dedicated thread and awaits its result, keeping the cooperative pool free.
func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try work() }) }.start()
    }
}

import Foundation
import ParleyStatistics
import ZeroMQ

/// Asks a broker for its state (STATUS → STATUS_REPLY). Needs no registration.
public enum BrokerStatus {
    /// The broker's state, or `ParleyError.brokerUnreachable` when no reply arrives within `timeout`
    /// (`ParleyError.handshakeFailed` when the connection's security handshake failed). With CURVE, give `curve`.
    public static func fetch(endpoint: String, curve: CurveClientKeys? = nil, timeout: Duration = .seconds(3)) async throws -> BrokerSnapshot {
        let answer = try await StatusAnswer.ask(endpoint: endpoint, curve: curve, timeoutMilliseconds: timeout.wholeMilliseconds,
                                                refusalEnds: false)
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
    /// Throws `ParleyError.handshakeFailed` as soon as the security handshake fails, saying why.
    public static func ask(endpoint: String, curve: CurveClientKeys? = nil, timeoutMilliseconds: UInt64,
                           refusalEnds: Bool) async throws -> StatusAnswer {
        try await OneShotQuestion.ask(.status, endpoint: endpoint, curve: curve, timeoutMilliseconds: timeoutMilliseconds) { header, body in
            switch header {
            case .statusReply where body != nil: .reply(body!)
            case .error where refusalEnds: .refused
            default: nil
            }
        } ?? .silent
    }
}

/// One command sent on a short-lived DEALER, and the first answer `match` accepts (STATUS, ADMIN).
enum OneShotQuestion {
    /// Sends `header`, then waits up to `timeoutMilliseconds` for a message `match` turns into a value (given the
    /// decoded header and the body frame, if any); nil when none came. Runs on a thread of its own (off the
    /// cooperative pool). Throws `ParleyError.handshakeFailed` as soon as the security handshake fails, saying why.
    static func ask<Answer: Sendable>(_ header: Header, endpoint: String, curve: CurveClientKeys?, timeoutMilliseconds: UInt64,
                                      match: @escaping @Sendable (Header, [UInt8]?) -> Answer?) async throws -> Answer? {
        try await onOwnThread {
            let (socket, monitor) = try ServerHandshake.watchedDealer(to: endpoint, curve: curve)
            defer { monitor.close(); socket.close() }
            try socket.send(HeaderEncoder.encode(header))
            var poller = Poller()
            poller.add(socket)
            let deadline = MonotonicClock.milliseconds() + timeoutMilliseconds
            while MonotonicClock.milliseconds() < deadline {
                // In slices, so that a failed handshake is reported at once rather than as silence at the deadline.
                _ = try poller.poll(timeoutMilliseconds: Int(min(deadline &- MonotonicClock.milliseconds(), 50)))
                while let event = try monitor.next() {
                    if let reason = ServerHandshake.failure(event, withKeys: curve != nil) {
                        throw ParleyError.handshakeFailed(endpoint: endpoint, reason: reason)
                    }
                }
                guard let frames = try socket.receiveMultipart(dontWait: true), frames.count <= 2,
                      let decoded = try? HeaderDecoder.decode(frames[0].bytes) else { continue }
                if let answer = match(decoded, frames.count == 2 ? frames[1].bytes : nil) { return answer }
            }
            return nil
        }
    }
}

/// Runs blocking work on a dedicated thread and awaits its result, keeping the cooperative pool free.
func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try work() }) }.start()
    }
}

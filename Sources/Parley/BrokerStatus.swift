import Foundation
import ZeroMQ

/// Asks a broker for its state (STATUS → STATUS_REPLY). Needs no registration.
public enum BrokerStatus {
    /// The broker's state, or `ParleyError.brokerUnreachable` when no reply arrives within `timeout`.
    public static func fetch(endpoint: String, timeout: Duration = .seconds(3)) async throws -> BrokerSnapshot {
        let bytes = try await onOwnThread { try exchange(endpoint: endpoint, timeout: timeout) }
        do {
            return try JSONDecoder().decode(BrokerSnapshot.self, from: Data(bytes))
        } catch {
            throw ParleyError.payload("unreadable STATUS_REPLY: \(error)")
        }
    }

    /// One blocking STATUS round trip on a short-lived DEALER (run off the cooperative pool).
    private static func exchange(endpoint: String, timeout: Duration) throws -> [UInt8] {
        let context = try Context()
        let socket = try Socket(context, type: .dealer)
        defer { socket.close() }
        try socket.setLinger(milliseconds: 0)
        try socket.connect(endpoint)
        try socket.send(HeaderEncoder.encode(.status))
        var poller = Poller()
        poller.add(socket)
        let deadline = MonotonicClock.milliseconds() + timeout.wholeMilliseconds
        while MonotonicClock.milliseconds() < deadline {
            _ = try poller.poll(timeoutMilliseconds: Int(deadline &- MonotonicClock.milliseconds()))
            guard let frames = try socket.receiveMultipart(dontWait: true) else { continue }
            if case .statusReply? = try? HeaderDecoder.decode(frames[0].bytes), frames.count == 2 {
                return frames[1].bytes
            }
        }
        throw ParleyError.brokerUnreachable(endpoint: endpoint)
    }
}

/// Runs blocking work on a dedicated thread and awaits its result, keeping the cooperative pool free.
func onOwnThread<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try work() }) }.start()
    }
}

import Foundation
import ParleyWire
import ZeroMQ

/// Asks a gateway how it is (STATUS → STATUS_REPLY with a small JSON document). Needs no registration.
enum GatewayStatus {
    /// What a gateway says about itself.
    struct Report: Decodable {
        /// `connected` when the broker has welcomed the gateway, else `disconnected`.
        var broker: String
        var draining: Bool
        var callers: Int
        var forwards: Int
        var rules: Int
    }

    /// Why a gateway is not healthy.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The gateway's report within `timeoutMilliseconds`, or a ``Failure`` saying what was wrong.
    static func fetch(endpoint: String, timeoutMilliseconds: Int) async throws -> Report {
        let bytes = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8], any Error>) in
            Thread { continuation.resume(with: Result { try exchange(endpoint: endpoint, timeoutMilliseconds: timeoutMilliseconds) }) }.start()
        }
        guard let report = try? JSONDecoder().decode(Report.self, from: Data(bytes)) else {
            throw Failure(description: "unreadable STATUS_REPLY from the gateway")
        }
        return report
    }

    /// One blocking STATUS round trip on a short-lived DEALER (run off the cooperative pool).
    private static func exchange(endpoint: String, timeoutMilliseconds: Int) throws -> [UInt8] {
        let context = try Context()
        let socket = try Socket(context, type: .dealer)
        defer { socket.close() }
        try socket.setLinger(milliseconds: 0)
        try socket.connect(endpoint)
        try socket.send(HeaderEncoder.encode(.status))
        var poller = Poller()
        poller.add(socket)
        let deadline = MonotonicClock.milliseconds() + UInt64(max(timeoutMilliseconds, 1))
        while MonotonicClock.milliseconds() < deadline {
            _ = try poller.poll(timeoutMilliseconds: Int(deadline &- MonotonicClock.milliseconds()))
            guard let frames = try socket.receiveMultipart(dontWait: true) else { continue }
            switch try? HeaderDecoder.decode(frames[0].bytes) {
            case .statusReply? where frames.count == 2:
                return frames[1].bytes
            case .error?:
                throw Failure(description: "the process at \(endpoint) refused STATUS: it is alive but not a Parley gateway of this version")
            default:
                continue
            }
        }
        throw Failure(description: "no answer within \(timeoutMilliseconds) ms")
    }
}

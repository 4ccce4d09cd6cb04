import Foundation
import ParleyStatistics
import ZeroMQ

/// Whether a server accepts this client's connection: the security handshake (CURVE, or none), checked without
/// sending anything. A failed handshake otherwise looks like a server that never answers.
public enum ServerHandshake {
    /// Connects to `endpoint` (with `curve`, when given) and waits up to `timeout` for the handshake: returns when it
    /// succeeded or nothing happened (no server: left to the caller), throws `ParleyError.handshakeFailed` saying why
    /// it failed.
    public static func check(endpoint: String, curve: CurveClientKeys?, timeout: Duration = .seconds(2)) async throws {
        try await onOwnThread {
            let (socket, monitor) = try ServerHandshake.watchedDealer(to: endpoint, curve: curve)
            defer { monitor.close(); socket.close() }
            let deadline = MonotonicClock.milliseconds() + timeout.wholeMilliseconds
            while MonotonicClock.milliseconds() < deadline {
                while let event = try monitor.next() {
                    if event == .succeeded { return }
                    if let reason = failure(event, withKeys: curve != nil) {
                        throw ParleyError.handshakeFailed(endpoint: endpoint, reason: reason)
                    }
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }

    /// A short-lived DEALER connected to `endpoint` (linger 0, with `curve` when given), its handshake watched.
    static func watchedDealer(to endpoint: String, curve: CurveClientKeys?) throws -> (Socket, HandshakeMonitor) {
        let socket = try Socket(try Context(), type: .dealer)
        try socket.setLinger(milliseconds: 0)
        if let curve {
            try socket.setCurveKeys(publicKey: curve.publicKey, secretKey: curve.secretKey)
            try socket.setCurveServerKey(curve.serverKey)
        }
        let monitor = try HandshakeMonitor(watching: socket)
        try socket.connect(endpoint)
        return (socket, monitor)
    }

    /// What a failed handshake means for a client with or without CURVE keys; nil when it did not fail.
    static func failure(_ event: HandshakeMonitor.Event, withKeys: Bool) -> String? {
        switch event {
        case .succeeded:
            nil
        case .mechanismMismatch:
            withKeys ? "the server does not use CURVE (development mode): connect without keys"
                : "the server requires CURVE: give this client's secret key and the server's public key"
        case .refused(let status):
            "the server refused this client's key (ZAP status \(status)): its public key is not in the server's keys file"
        case .closedWithoutReason:
            // libzmq reports this too when a mechanism mismatch closes the connection before the server's greeting is read.
            withKeys ? "the CURVE handshake failed: the server key given is not the server's public key, or the server does not use CURVE"
                : "the connection closed during the handshake: the server may require CURVE (give this client's secret key and the server's public key)"
        case .protocolError(let code):
            "the handshake failed (ZMTP protocol error 0x\(String(code, radix: 16)))"
        }
    }
}

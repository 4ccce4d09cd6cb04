import Foundation
import ParleyWire
import ZeroMQ

/// A hand-driven DEALER that speaks the wire protocol frame by frame: for hostile input and for agents
/// that misbehave on purpose. Every socket call runs on a dedicated thread, never on the cooperative pool.
/// Use from one task at a time.
final class RawAgent: @unchecked Sendable {
    private let context: Context
    private let socket: Socket

    /// A DEALER connected to `endpoint`. `receiveHighWaterMark` (ZMQ_RCVHWM) is libzmq's default (1000) when nil;
    /// `routingID` (ZMQ_ROUTING_ID) is chosen by the broker's libzmq when nil, as the protocol asks.
    init(endpoint: String, receiveHighWaterMark: Int32? = nil, routingID: [UInt8]? = nil) throws {
        context = try Context()
        socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setSendHighWaterMark(0)
        if let receiveHighWaterMark { try socket.setReceiveHighWaterMark(receiveHighWaterMark) }
        if let routingID { try socket.setRoutingID(routingID) }
        try socket.connect(endpoint)
    }

    /// Sends one multipart message.
    func send(_ frames: [[UInt8]]) async throws {
        try await blocking {
            for (index, frame) in frames.enumerated() {
                try self.socket.send(frame, more: index < frames.count - 1)
            }
        }
    }

    /// Sends many multipart messages, in order, from one thread (much faster than one `send` each).
    func send(all messages: [[[UInt8]]]) async throws {
        try await blocking {
            for frames in messages {
                for (index, frame) in frames.enumerated() {
                    try self.socket.send(frame, more: index < frames.count - 1)
                }
            }
        }
    }

    /// Sends a header and an optional body.
    func send(_ header: Header, body: [UInt8]? = nil) async throws {
        try await send([HeaderEncoder.encode(header)] + (body.map { [$0] } ?? []))
    }

    /// The next message's frames, or nil when none arrives within `timeout`.
    func receive(timeout: Duration = .seconds(10)) async throws -> [[UInt8]]? {
        try await blocking {
            var poller = Poller()
            poller.add(self.socket)
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                let left = deadline - ContinuousClock.now
                _ = try poller.poll(timeoutMilliseconds: Int(left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000))
                if let frames = try self.socket.receiveMultipart(dontWait: true) { return frames.map(\.bytes) }
            }
            return nil
        }
    }

    /// The next decoded header (and body) that is not a HEARTBEAT, or nil on timeout.
    func next(timeout: Duration = .seconds(10)) async throws -> (header: Header, body: [UInt8])? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let frames = try await receive(timeout: deadline - ContinuousClock.now) else { return nil }
            let header = try HeaderDecoder.decode(frames[0])
            if header == .heartbeat { continue }
            return (header, frames.count > 1 ? frames[1] : [])
        }
        return nil
    }

    /// The next `count` decoded messages that are not HEARTBEATs, in arrival order; fewer when `timeout` passes
    /// first. Reads on one thread (much faster than one `next` each).
    func next(count: Int, timeout: Duration) async throws -> [(header: Header, body: [UInt8])] {
        try await blocking {
            var collected: [(header: Header, body: [UInt8])] = []
            var poller = Poller()
            poller.add(self.socket)
            let deadline = ContinuousClock.now + timeout
            while collected.count < count, ContinuousClock.now < deadline {
                guard let frames = try self.socket.receiveMultipart(dontWait: true) else {
                    let left = deadline - ContinuousClock.now
                    _ = try poller.poll(timeoutMilliseconds: max(1, Int(left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000)))
                    continue
                }
                let header = try HeaderDecoder.decode(frames[0].bytes)
                if header == .heartbeat { continue }
                collected.append((header, frames.count > 1 ? frames[1].bytes : []))
            }
            return collected
        }
    }

    /// Registers and returns the WELCOME (or whatever came instead).
    @discardableResult
    func register(id: String, layer: String, capabilities: [String] = [], instance: UInt64 = .random(in: 1...(.max)))
        async throws -> Header? {
        try await send(.hello(Hello(instance: instance, agentID: id, layer: layer, capabilities: capabilities)))
        return try await next()?.header
    }

    func close() {
        socket.close()
    }

    private func blocking<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }
}

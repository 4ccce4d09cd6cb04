import ArgumentParser
import ParleyWire
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// `parley-bench responder`: the serving load generator, run in its own process.
///
/// In `broker` mode it registers as `--agent-id` (default `bench-echo`, layer `bench`, capability `echo`), answers every
/// DELIVER with REPLY OK carrying the DELIVER's body frame as it is (send-consumes, no copy) and sends
/// HEARTBEAT every second. In `raw` mode it connects to the forwarder's backend, announces itself with
/// one `READY` frame and returns every message it gets, frame by frame, unchanged.
struct ResponderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "responder",
        abstract: "Internal: the responding load generator.",
        shouldDisplay: false
    )

    @Option(help: "Endpoint to connect to (the broker, or the forwarder's backend).")
    var endpoint: String

    @Option(help: "broker (the Parley protocol) or raw (echo frames for the forwarder).")
    var mode: LoadMode

    @Option(help: "Agent id to register as (broker mode).")
    var agentID = "bench-echo"

    @Option(help: "Layer to register in (broker mode).")
    var layer = "bench"

    @Option(help: "Capability to offer (broker mode).")
    var capability = "echo"

    func run() throws {
        let context = try Context()
        let socket = try Socket(context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.setSendHighWaterMark(100_000)
        try socket.setReceiveHighWaterMark(100_000)
        try socket.connect(endpoint)
        switch mode {
        case .raw:
            try socket.send("READY")
            emitLine("responder ready")
            try echoFrames(socket)
        case .broker:
            try register(socket, agentID: agentID, layer: layer, capabilities: [capability])
            emitLine("responder ready")
            try serve(socket)
        }
    }

    /// Returns every message unchanged: [client-id, header, body] in, the same frames out.
    private func echoFrames(_ socket: Socket) throws {
        var frames: [Message] = [Message(), Message(), Message()]
        while true {
            var count = 0
            repeat {
                if count == frames.count { frames.append(Message()) }
                guard try socket.receive(into: frames[count]) else { break }
                count += 1
            } while frames[count - 1].hasMore
            for index in 0..<count {
                try socket.send(frames[index], more: index < count - 1)
            }
        }
    }

    /// Answers DELIVERs with REPLY OK and the same body; heartbeats every second.
    private func serve(_ socket: Socket) throws {
        let header = Message()
        let body = Message()
        let extra = Message()
        var reply = HeaderEncoder.encode(.reply(Reply(deliveryID: 0, status: .ok)))
        let heartbeat = HeaderEncoder.encode(.heartbeat)
        var nextHeartbeat = monotonicNanoseconds() + 1_000_000_000
        var poller = Poller()
        poller.add(socket)
        while true {
            var received = false
            while try socket.receive(into: header, dontWait: true) {
                received = true
                var hasBody = false
                if header.hasMore {
                    _ = try socket.receive(into: body)
                    hasBody = true
                    var more = body.hasMore
                    while more {
                        _ = try socket.receive(into: extra)
                        more = extra.hasMore
                    }
                }
                let (code, deliveryID) = header.withUnsafeBytes { bytes -> (UInt8, UInt64) in
                    guard bytes.count >= 3, bytes[0] == protocolSignature else { return (0, 0) }
                    // DELIVER starts with its delivery id: read it in place, the rest is not needed to echo.
                    if bytes[2] == CommandCode.deliver.rawValue, bytes.count >= 11 {
                        return (bytes[2], readBigEndianUInt64(bytes, at: 3))
                    }
                    return (bytes[2], 0)
                }
                switch code {
                case CommandCode.deliver.rawValue:
                    writeBigEndianUInt64(deliveryID, into: &reply, at: 3)
                    try socket.send(reply, more: hasBody)
                    if hasBody { try socket.send(body) }
                case CommandCode.bye.rawValue:
                    Glibc.exit(0)  // the broker is shutting down: the scenario is over
                case CommandCode.error.rawValue:
                    emitError("responder: ERROR from the broker: \(hasBody ? body.string : "")")
                default:
                    continue  // HEARTBEAT, REVOKE: nothing to do
                }
            }
            let now = monotonicNanoseconds()
            if now >= nextHeartbeat {
                try socket.send(heartbeat, dontWait: true)
                nextHeartbeat = now + 1_000_000_000
            }
            if !received { _ = try poller.poll(timeoutMilliseconds: 100) }
        }
    }
}

import ArgumentParser
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// `parley-bench forwarder`: the logic-free baseline, run in its own process.
///
/// A frontend ROUTER for requesters and a backend ROUTER for `--workers` workers, both on `tcp://127.0.0.1:*`.
/// Each worker announces itself with a first message; once all have, requests go to them in turn, and
/// frontend `[client-id, …frames]` goes to the backend as `[worker-id, client-id, …frames]`, and backend
/// `[worker-id, client-id, …frames]` goes to the frontend as `[client-id, …frames]`. Frames are `Message`s
/// moved from one socket to the other (send-consumes: no byte copies); the only logic is the routing ids.
/// Same socket options as the broker's ROUTER (high-water marks, ROUTER_MANDATORY), one I/O thread.
struct ForwarderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forwarder",
        abstract: "Internal: the logic-free ROUTER-to-ROUTER forwarder.",
        shouldDisplay: false
    )

    @Option(help: "Interface to bind both ROUTERs to, with ephemeral ports.")
    var host = "127.0.0.1"

    @Option(help: "Workers to wait for; requests go to them in turn (round robin).")
    var workers = 1

    func run() throws {
        let context = try Context()
        let frontend = try Socket(context, type: .router)
        let backend = try Socket(context, type: .router)
        for socket in [frontend, backend] {
            try socket.setLinger(milliseconds: 0)
            try socket.setRouterMandatory(true)
            try socket.setSendHighWaterMark(100_000)
            try socket.setReceiveHighWaterMark(100_000)
            try socket.bind("tcp://\(host):*")
        }
        emitLine("forwarder ready frontend=\(try frontend.lastEndpoint) backend=\(try backend.lastEndpoint)")

        // Each worker's first message names it; requests wait in the frontend's queue until all are known.
        let worker = Message()
        var frames: [Message] = (0..<4).map { _ in Message() }
        var workerIDs: [[UInt8]] = []
        while workerIDs.count < max(1, workers) {
            _ = try backend.receive(into: worker)
            _ = try receiveRest(backend, after: worker, into: &frames)
            if !workerIDs.contains(worker.bytes) { workerIDs.append(worker.bytes) }
        }
        var next = 0

        var poller = Poller()
        let frontIndex = poller.add(frontend)
        let backIndex = poller.add(backend)
        let discard = Message()
        while true {
            _ = try poller.poll(timeoutMilliseconds: 1_000)
            if poller.isReadable(frontIndex) {
                // [client-id, …] → [worker-id, client-id, …]
                var handled = 0
                while handled < 1_024, try frontend.receive(into: frames[0], dontWait: true) {
                    handled += 1
                    let count = try receiveRest(frontend, after: frames[0], into: &frames, from: 1)
                    let worker = next
                    next = next + 1 == workerIDs.count ? 0 : next + 1
                    // A worker gone (the scenario is ending): drop the request. With ROUTER_MANDATORY the
                    // refusal comes at the routing-id frame, before any other frame was queued.
                    do { try workerIDs[worker].withUnsafeBytes { _ = try backend.send($0, more: true) } } catch let error as ZMQError where error == .hostUnreachable { continue }
                    for index in 0..<count { try backend.send(frames[index], more: index < count - 1) }
                }
            }
            if poller.isReadable(backIndex) {
                // [worker-id, client-id, …] → [client-id, …]
                var handled = 0
                while handled < 1_024, try backend.receive(into: discard, dontWait: true) {
                    handled += 1
                    let count = try receiveRest(backend, after: discard, into: &frames)
                    guard count >= 2 else { continue }  // a repeated READY
                    do { try frontend.send(frames[0], more: true) } catch let error as ZMQError where error == .hostUnreachable { continue }  // requester gone
                    for index in 1..<count { try frontend.send(frames[index], more: index < count - 1) }
                }
            }
        }
    }

    /// Receives the frames following `first` into `frames[start...]`; returns how many frames `frames` now holds.
    private func receiveRest(_ socket: Socket, after first: Message, into frames: inout [Message], from start: Int = 0) throws -> Int {
        var count = start
        var more = first.hasMore
        while more {
            if count == frames.count { frames.append(Message()) }
            _ = try socket.receive(into: frames[count])
            more = frames[count].hasMore
            count += 1
        }
        return count
    }
}

import Parley

/// The server a tool call goes through (the broker, or the gateway for call_layer), probed with STATUS to tell a
/// call that is still waiting from one whose server went away.
struct LivenessProbe: Sendable {
    /// What the model is told it is: broker or gateway.
    var name: String
    var endpoint: String
    var curve: CurveClientKeys?

    /// The broker `configuration` registers with.
    static func broker(of configuration: AgentConfiguration) -> LivenessProbe {
        let curve = configuration.curve.map { CurveClientKeys(publicKey: $0.publicKey, secretKey: $0.secretKey, serverKey: $0.brokerKey) }
        return LivenessProbe(name: "broker", endpoint: configuration.brokerEndpoint, curve: curve)
    }

    /// The gateway `configuration` makes cross-layer calls through.
    static func gateway(of configuration: AgentConfiguration) -> LivenessProbe {
        let curve = configuration.curve.flatMap { keys in
            keys.gatewayKey.map { CurveClientKeys(publicKey: keys.publicKey, secretKey: keys.secretKey, serverKey: $0) }
        }
        return LivenessProbe(name: "gateway", endpoint: configuration.gatewayEndpoint, curve: curve)
    }

    /// Whether the server answers a STATUS within 1.5 s. Any answer counts: a STATUS_REPLY, a refusal (asked too
    /// often) or a failed security handshake; only silence does not.
    func answers() async -> Bool {
        guard let answer = try? await StatusAnswer.ask(endpoint: endpoint, curve: curve, timeoutMilliseconds: 1_500,
                                                       refusalEnds: true) else { return true }
        if case .silent = answer { return false }
        return true
    }

    /// Returns true once two probes in a row went unanswered (the first after 2 s, then one a second); false as
    /// soon as the task is cancelled.
    func wentSilent() async -> Bool {
        guard (try? await Task.sleep(for: .seconds(2))) != nil else { return false }
        var silent = 0
        while true {
            silent = await answers() ? 0 : silent + 1
            if silent == 2 { return !Task.isCancelled }
            guard (try? await Task.sleep(for: .seconds(1))) != nil else { return false }
        }
    }

    /// Runs `call` while probing the server: nil when it stopped answering first (the call is then cancelled and
    /// left to end on its own). Cancelling the calling task cancels `call` too and throws `CancellationError`.
    func watching<Value: Sendable>(_ call: @escaping @Sendable () async throws -> Value) async throws -> Value? {
        let first = FirstOf<Result<Value, Error>?>()
        let calling = Task {
            do { first.offer(.success(try await call())) } catch { first.offer(.failure(error)) }
        }
        let probing = Task { if await wentSilent() { first.offer(nil) } }
        defer { probing.cancel() }
        do {
            guard let ending = try await first.value() else {
                calling.cancel()
                return nil
            }
            return try ending.get()
        } catch {
            calling.cancel()
            throw error
        }
    }
}

/// A call into another Clean Architecture layer, carried by the gateway (which checks the policy).
public struct LayerCallback<Payload: Encodable & Sendable>: Sendable {
    /// The layer to call.
    public var toLayer: String
    /// The capability asked for in that layer (the need, the use case, the expertise); nil for any agent of the layer.
    public var need: String?
    public var kind: RequestKind
    public var payload: Payload
    /// Defaults as in the original spec: 30 s and 3 retries.
    public var timeout: Duration
    public var retries: Int

    public init(toLayer: String, need: String?, kind: RequestKind = .call, payload: Payload,
                timeout: Duration = .seconds(30), retries: Int = 3) {
        self.toLayer = toLayer; self.need = need; self.kind = kind; self.payload = payload
        self.timeout = timeout; self.retries = retries
    }
}

extension Agent {
    /// Sends `callback` through the gateway and decodes the answer. Throws `ParleyError.outcome` unless OK:
    /// UNAUTHORIZED when the policy forbids the edge, OVERLOADED over the rate, UNAVAILABLE when the
    /// gateway cannot be reached within the deadline (fail closed).
    public func execute<Payload: Encodable & Sendable, Answer: Decodable>(
        _ callback: LayerCallback<Payload>, as answer: Answer.Type = Answer.self
    ) async throws -> Answer {
        let outcome = try await executeOutcome(callback)
        guard outcome.status == .ok else { throw ParleyError.outcome(outcome.status, reason: outcome.text) }
        return try JSONPayload.decode(Answer.self, from: outcome.body)
    }

    /// Sends `callback` through the gateway and returns its outcome, whatever the status.
    public func executeOutcome<Payload: Encodable & Sendable>(_ callback: LayerCallback<Payload>) async throws -> Outcome {
        try await sendAcrossLayers(callback.kind, toLayer: callback.toLayer, need: callback.need, body: JSONPayload.encode(callback.payload),
                                   timeout: callback.timeout, retries: callback.retries)
    }

    /// Sends an encoded `body` through the gateway to an agent of `layer` offering `need` (any agent of the layer when
    /// nil) and returns the outcome, whatever the status. Throws only for an invalid layer or capability name.
    public func sendAcrossLayers(_ kind: RequestKind = .call, toLayer layer: String, need: String?, body: [UInt8],
                                 contentType: String = "application/json", timeout: Duration = .seconds(30),
                                 retries: Int = 3) async throws -> Outcome {
        if let problem = Names.layerProblem(layer) { throw ParleyError.invalidConfiguration(problem) }
        if let need, let problem = Names.capabilityProblem(need) { throw ParleyError.invalidConfiguration(problem) }
        if gatewayStarted.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            gateway.startInBackground()
        }
        return await send(kind, to: .layer(layer, capability: need), body: body, contentType: contentType, timeout: timeout,
                          retries: retries, via: gateway)
    }

    /// A domain agent asks the infrastructure layer for what it `need`s (through a port), e.g. `"persistence"`.
    public func domainToInfrastructure<Context: Encodable & Sendable, Answer: Decodable>(
        context: Context, need: String, timeout: Duration = .seconds(30), as answer: Answer.Type = Answer.self
    ) async throws -> Answer {
        try await execute(LayerCallback(toLayer: "infrastructure", need: need, payload: context, timeout: timeout))
    }

    /// An application agent asks the domain layer for `expertise` on a use case.
    public func applicationToDomain<UseCase: Encodable & Sendable, Answer: Decodable>(
        useCase: UseCase, expertise: String, timeout: Duration = .seconds(30), as answer: Answer.Type = Answer.self
    ) async throws -> Answer {
        try await execute(LayerCallback(toLayer: "domain", need: expertise, payload: useCase, timeout: timeout))
    }
}

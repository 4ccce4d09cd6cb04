/// Where a request goes, written on the wire as `agent:<id>`, `cap:<name>` or `layer:<name>[/<cap>]`.
public enum Target: Hashable, Sendable, CustomStringConvertible {
    /// One agent by id.
    case agent(String)
    /// Any agent offering a capability, load-balanced.
    case capability(String)
    /// Any agent of a layer, optionally offering a capability. Accepted only from an authenticated gateway.
    case layer(String, capability: String?)

    /// Parses the wire form; nil when the scheme is unknown or a name breaks the naming rules.
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let scheme = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        switch scheme {
        case "agent":
            guard Names.agentProblem(rest) == nil else { return nil }
            self = .agent(rest)
        case "cap":
            guard Names.capabilityProblem(rest) == nil else { return nil }
            self = .capability(rest)
        case "layer":
            let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard Names.layerProblem(parts[0]) == nil else { return nil }
            if parts.count == 2 {
                guard Names.capabilityProblem(parts[1]) == nil else { return nil }
                self = .layer(parts[0], capability: parts[1])
            } else {
                self = .layer(parts[0], capability: nil)
            }
        default:
            return nil
        }
    }

    /// The wire form.
    public var description: String {
        switch self {
        case .agent(let id): "agent:\(id)"
        case .capability(let name): "cap:\(name)"
        case .layer(let layer, let capability?): "layer:\(layer)/\(capability)"
        case .layer(let layer, nil): "layer:\(layer)"
        }
    }
}

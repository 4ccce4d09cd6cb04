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
        var text = text
        guard let target = text.withUTF8({ Target(wire: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = target
    }

    /// Parses the wire form from a header's bytes, checking the names before any String is made.
    public init?(wire bytes: UnsafeRawBufferPointer) {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let scheme = UnsafeRawBufferPointer(rebasing: bytes[..<colon])
        let rest = UnsafeRawBufferPointer(rebasing: bytes[(colon + 1)...])
        if scheme.equals("agent") {
            guard Names.agentProblem(bytes: rest) == nil else { return nil }
            self = .agent(String(decoding: rest, as: UTF8.self))
        } else if scheme.equals("cap") {
            guard Names.capabilityProblem(bytes: rest) == nil else { return nil }
            self = .capability(String(decoding: rest, as: UTF8.self))
        } else if scheme.equals("layer") {
            let slash = rest.firstIndex(of: UInt8(ascii: "/"))
            let layer = UnsafeRawBufferPointer(rebasing: rest[..<(slash ?? rest.endIndex)])
            guard Names.layerProblem(bytes: layer) == nil else { return nil }
            guard let slash else {
                self = .layer(String(decoding: layer, as: UTF8.self), capability: nil)
                return
            }
            let capability = UnsafeRawBufferPointer(rebasing: rest[(slash + 1)...])
            guard Names.capabilityProblem(bytes: capability) == nil else { return nil }
            self = .layer(String(decoding: layer, as: UTF8.self), capability: String(decoding: capability, as: UTF8.self))
        } else {
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

/// An event topic, `callback.<agent>.<event>`. Agent ids and event names never contain `.`.
public struct Topic: Hashable, Sendable, CustomStringConvertible {
    public let agent: String
    public let event: String

    /// The topic of `event` raised by `agent`; nil when either name breaks the naming rules.
    public init?(agent: String, event: String) {
        guard Names.agentProblem(agent) == nil, Names.eventProblem(event) == nil else { return nil }
        self.agent = agent
        self.event = event
    }

    /// Parses `callback.<agent>.<event>`; nil when it has another shape or a name breaks the rules.
    public init?(_ text: String) {
        var text = text
        guard let topic = text.withUTF8({ Topic(wire: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = topic
    }

    /// Parses `callback.<agent>.<event>` from a header's bytes, checking both names before any String is made.
    public init?(wire bytes: UnsafeRawBufferPointer) {
        guard bytes.count > 9, UnsafeRawBufferPointer(rebasing: bytes[..<9]).equals("callback.") else { return nil }
        let rest = UnsafeRawBufferPointer(rebasing: bytes[9...])
        guard let dot = rest.firstIndex(of: UInt8(ascii: ".")) else { return nil }
        let agent = UnsafeRawBufferPointer(rebasing: rest[..<dot])
        let event = UnsafeRawBufferPointer(rebasing: rest[(dot + 1)...])
        guard Names.agentProblem(bytes: agent) == nil, Names.eventProblem(bytes: event) == nil else { return nil }
        self.agent = String(decoding: agent, as: UTF8.self)
        self.event = String(decoding: event, as: UTF8.self)
    }

    /// Why `text` is not a topic, or nil when it is.
    public static func problem(_ text: String) -> String? {
        guard text.hasPrefix("callback.") else { return "topic '\(text.prefix(80))' does not start with 'callback.'" }
        let parts = text.dropFirst("callback.".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return "topic '\(text.prefix(80))' is not callback.<agent>.<event> (agent ids and event names contain no '.')" }
        return Names.agentProblem(String(parts[0])) ?? Names.eventProblem(String(parts[1]))
    }

    /// `callback.<agent>.<event>`.
    public var description: String { "callback.\(agent).\(event)" }

    /// The first frame of the topic's messages on the events socket: the topic and a terminating `.`,
    /// so that the subscription `callback.ab.on_error.` never matches `callback.ab.on_error_2`.
    public var frame: [UInt8] { Array("callback.\(agent).\(event).".utf8) }
}

/// Which topics a REPLAY (or a subscription) covers: one topic, or all topics of one agent.
public enum TopicSelector: Hashable, Sendable, CustomStringConvertible {
    case topic(Topic)
    case agent(String)

    /// Parses `callback.<agent>.<event>` or `callback.<agent>.` (all of one agent's events).
    public init?(_ text: String) {
        if let topic = Topic(text) {
            self = .topic(topic)
        } else if text.hasPrefix("callback."), text.hasSuffix("."), text.count > "callback.".count + 1 {
            let agent = String(text.dropFirst("callback.".count).dropLast())
            guard Names.agentProblem(agent) == nil else { return nil }
            self = .agent(agent)
        } else {
            return nil
        }
    }

    public var description: String {
        switch self {
        case .topic(let topic): topic.description
        case .agent(let agent): "callback.\(agent)."
        }
    }

    /// The subscription prefix on the events socket.
    public var subscription: [UInt8] {
        switch self {
        case .topic(let topic): topic.frame
        case .agent(let agent): Array("callback.\(agent).".utf8)
        }
    }

    /// Whether `topic` is covered.
    public func matches(_ topic: Topic) -> Bool {
        switch self {
        case .topic(let own): own == topic
        case .agent(let agent): topic.agent == agent
        }
    }
}

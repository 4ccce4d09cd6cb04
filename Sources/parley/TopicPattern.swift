import ParleyWire

/// What `parley tail` follows: `callback.<agent>.<event>` where either part may hold `*` (any run of characters
/// within that part), or `callback.<agent>.` for all of one agent's events. `*` alone, `callback.*` and
/// `callback.*.` mean every event.
struct TopicPattern: CustomStringConvertible {
    let agent: String
    /// nil: every event of the matching agents.
    let event: String?

    init?(_ text: String) {
        if text == "*" || text == "callback.*" || text == "callback.*." {
            (agent, event) = ("*", nil)
            return
        }
        guard text.hasPrefix("callback.") else { return nil }
        let parts = text.dropFirst("callback.".count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return nil }
        agent = String(parts[0])
        event = parts[1].isEmpty || parts[1] == "*" ? nil : String(parts[1])
        guard Self.isValid(agent, Names.agentProblem), event.map({ Self.isValid($0, Names.eventProblem) }) ?? true else { return nil }
    }

    /// The one agent or topic the SDK can subscribe to (and replay) when the pattern names them without `*`.
    var selector: TopicSelector? {
        guard !agent.contains("*") else { return nil }
        guard let event else { return .agent(agent) }
        guard !event.contains("*") else { return .agent(agent) }
        return Topic(agent: agent, event: event).map(TopicSelector.topic)
    }

    func matches(_ topic: Topic) -> Bool {
        Self.glob(agent, matches: topic.agent) && (event.map { Self.glob($0, matches: topic.event) } ?? true)
    }

    var description: String { "callback.\(agent).\(event ?? "")" }

    /// Whether the literal parts of `part` (between its `*`s) follow the naming rule `problem` checks.
    private static func isValid(_ part: String, _ problem: (String) -> String?) -> Bool {
        part.split(separator: "*").allSatisfy { problem(String($0)) == nil }
    }

    /// Whether `text` matches `pattern`, where `*` stands for any run of characters (none included).
    static func glob(_ pattern: String, matches text: String) -> Bool {
        let pieces = pattern.split(separator: "*", omittingEmptySubsequences: false).map { Array($0.utf8) }
        let bytes = Array(text.utf8)
        guard pieces.count > 1 else { return bytes == pieces[0] }
        guard bytes.starts(with: pieces[0]) else { return false }
        var position = pieces[0].count
        for piece in pieces.dropFirst().dropLast() {
            guard let found = firstRange(of: piece, in: bytes, from: position) else { return false }
            position = found
        }
        let last = pieces[pieces.count - 1]
        return bytes.count - position >= last.count && bytes.suffix(last.count).elementsEqual(last)
    }

    /// Where `piece` ends after its first occurrence in `bytes` at or after `start`.
    private static func firstRange(of piece: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard !piece.isEmpty else { return start }
        var index = start
        while index + piece.count <= bytes.count {
            if bytes[index..<(index + piece.count)].elementsEqual(piece) { return index + piece.count }
            index += 1
        }
        return nil
    }
}

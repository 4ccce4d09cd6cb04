import ParleyWire

extension KeyRing {
    /// The keys an entry may have.
    static let entryKeys = ["id", "role", "layer", "capabilities", "observer", "admin", "readers", "public"]

    /// Reads and validates the keys file at `path`.
    ///
    /// - Throws: ``ConfigurationError`` naming the file and the line of the first problem; line 0 when the file
    ///   cannot be read.
    public static func load(path: String) throws(ConfigurationError) -> KeyRing {
        try parse(ConfigurationFile.readText(path: path), source: path)
    }

    /// Parses and validates a keys document; `source` names it in errors and becomes ``source``.
    ///
    /// Refused, naming the line: YAML syntax errors; a top level other than a mapping with `keys`; entries that
    /// are not mappings or have unknown keys; a missing or invalid `id` or `public`; a `role` other than `agent`
    /// or `gateway`; an agent without a valid `layer`; a gateway with a layer or capabilities; `capabilities` that
    /// is not a list of valid capability names; `observer` or `admin` other than true or false; a public key or id used twice;
    /// `readers` on a gateway, or naming an id the file does not list.
    public static func parse(_ text: String, source: String) throws(ConfigurationError) -> KeyRing {
        let reader = ConfigurationReader(source: source)
        let composed: ConfigurationNode?
        do {
            composed = try YAMLComposer.compose(text, source: source)
        } catch {
            throw withQuotingHint(error, text: text)
        }
        guard let root = composed else {
            throw reader.error(1, "the keys file is empty; expected a mapping with 'keys'")
        }
        let fields = try reader.fields(root, "the keys file", allowed: ["keys"])
        let items = try reader.list(fields.required("keys"), "'keys'", example: "[] or a list of {id, layer, public} mappings")
        var entries: [KeyEntry] = []
        for (index, node) in items.enumerated() {
            let entry = try parseEntry(node, number: index + 1, reader)
            if let earlier = entries.first(where: { $0.publicKey == entry.publicKey }) {
                throw reader.error(entry.line, "the public key of '\(entry.id)' is already the key of '\(earlier.id)' "
                                   + "(line \(earlier.line)); every identity needs its own key pair")
            }
            if let earlier = entries.first(where: { $0.id == entry.id }) {
                throw reader.error(entry.line, "duplicate id '\(entry.id)' (also at line \(earlier.line))")
            }
            entries.append(entry)
        }
        for entry in entries {
            for name in entry.readers ?? [] where !entries.contains(where: { $0.id == name }) {
                throw reader.error(entry.line, "key entry '\(entry.id)': reader '\(name)' is not an id of this keys file")
            }
        }
        return KeyRing(entries: entries, source: source)
    }

    /// A YAML error on a line with an unquoted `public:` key most likely comes from a Z85 character YAML treats
    /// specially (`*` starts an alias, `&` an anchor, `#` a comment, …): say so.
    private static func withQuotingHint(_ error: ConfigurationError, text: String) -> ConfigurationError {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard error.line >= 1, error.line <= lines.count else { return error }
        var content = lines[error.line - 1].drop { $0 == " " || $0 == "-" }
        guard content.hasPrefix("public:") else { return error }
        content = content.dropFirst("public:".count).drop { $0 == " " }
        guard content.first != "\"", content.first != "'" else { return error }
        var hinted = error
        hinted.problem += "; put the public key in quotes (Z85 uses characters YAML treats specially)"
        return hinted
    }

    private static func parseEntry(_ node: ConfigurationNode, number: Int,
                                   _ reader: ConfigurationReader) throws(ConfigurationError) -> KeyEntry {
        let fields = try reader.fields(node, "key entry #\(number)", allowed: entryKeys, nameKey: "id", kind: "key entry")
        let idNode = try fields.required("id")
        let id = try reader.text(idNode, "\(fields.what): 'id'")
        let label = "key entry '\(id)'"
        if let problem = Names.agentProblem(id) { throw reader.error(idNode.line, problem) }

        var role = KeyRole.agent
        if let roleNode = fields.optional("role") {
            let word = try reader.text(roleNode, "\(label): 'role'")
            guard let parsed = KeyRole(rawValue: word) else {
                throw reader.error(roleNode.line, "\(label): unknown role '\(word)' (expected agent or gateway)")
            }
            role = parsed
        }

        var layer: String?
        var capabilities: [String]?
        var readers: [String]?
        switch role {
        case .agent:
            let layerNode = try fields.required("layer")
            let name = try reader.text(layerNode, "\(label): 'layer'")
            if let problem = Names.layerProblem(name) { throw reader.error(layerNode.line, "\(label): \(problem)") }
            layer = name
            if let listNode = fields.optional("capabilities") {
                capabilities = try parseCapabilities(listNode, label: label, reader)
            }
            if let listNode = fields.optional("readers") {
                readers = try parseReaders(listNode, label: label, reader)
            }
        case .gateway:
            if let layerNode = fields.optional("layer") {
                throw reader.error(layerNode.line, "\(label): a gateway has no layer; remove 'layer' or make it role: agent")
            }
            if let listNode = fields.optional("capabilities") {
                throw reader.error(listNode.line, "\(label): a gateway offers no capabilities; remove 'capabilities'")
            }
            if let listNode = fields.optional("readers") {
                throw reader.error(listNode.line, "\(label): a gateway publishes no events; remove 'readers'")
            }
        }

        let observer = try flag("observer", of: fields, label: label, reader)
        let admin = try flag("admin", of: fields, label: label, reader)

        let keyNode = try fields.required("public")
        let key = try reader.text(keyNode, "\(label): 'public'")
        if let problem = Z85.keyProblem(key) { throw reader.error(keyNode.line, "\(label): \(problem)") }
        return KeyEntry(publicKey: key, id: id, layer: layer, role: role, capabilities: capabilities, observer: observer,
                        admin: admin, readers: readers, line: node.line)
    }

    /// An optional true-or-false field of an entry (false when absent).
    private static func flag(_ name: String, of fields: ConfigurationReader.Fields, label: String,
                             _ reader: ConfigurationReader) throws(ConfigurationError) -> Bool {
        guard let node = fields.optional(name) else { return false }
        switch try reader.text(node, "\(label): '\(name)'") {
        case "true": return true
        case "false": return false
        case let word: throw reader.error(node.line, "\(label): '\(name)' must be true or false, not '\(word)'")
        }
    }

    private static func parseReaders(_ node: ConfigurationNode, label: String,
                                     _ reader: ConfigurationReader) throws(ConfigurationError) -> [String] {
        var readers: [String] = []
        for item in try reader.list(node, "\(label): 'readers'", example: "[orders-service, web-ui]") {
            let id = try reader.text(item, "\(label): a reader")
            if let problem = Names.agentProblem(id) { throw reader.error(item.line, "\(label): \(problem)") }
            if !readers.contains(id) { readers.append(id) }
        }
        return readers
    }

    private static func parseCapabilities(_ node: ConfigurationNode, label: String,
                                          _ reader: ConfigurationReader) throws(ConfigurationError) -> [String] {
        var capabilities: [String] = []
        for item in try reader.list(node, "\(label): 'capabilities'", example: "[quote, pricing.rates]") {
            let name = try reader.text(item, "\(label): a capability")
            if let problem = Names.capabilityProblem(name) { throw reader.error(item.line, "\(label): \(problem)") }
            if !capabilities.contains(name) { capabilities.append(name) }
        }
        return capabilities
    }
}

import ParleyWire

extension Policy {
    /// The keys a policy file's top level must have.
    static let topLevelKeys = ["version", "layers", "default", "rules"]
    /// The keys a rule may have (`rate` is optional).
    static let ruleKeys = ["name", "comment", "from", "to", "kinds", "max_payload", "rate"]

    /// Reads and validates the policy file at `path`.
    ///
    /// - Throws: ``ConfigurationError`` naming the file and the line of the first problem; line 0 when the file
    ///   cannot be read.
    public static func load(path: String) throws(ConfigurationError) -> Policy {
        try parse(ConfigurationFile.readText(path: path), source: path)
    }

    /// Parses and validates a policy document; `source` names it in errors and becomes ``source``.
    ///
    /// Refused, naming the line: YAML syntax errors; a top level that is not a mapping; unknown or missing keys;
    /// `version` other than 1; `default` other than `deny`; invalid or repeated layer names; rules that are not
    /// mappings, have unknown or missing keys, repeat a name, name a layer not in `layers`, list no kind or an
    /// unknown kind, or have a bad `max_payload` or `rate`; two rules for the same from → to edge.
    public static func parse(_ text: String, source: String) throws(ConfigurationError) -> Policy {
        let reader = ConfigurationReader(source: source)
        guard let root = try YAMLComposer.compose(text, source: source) else {
            throw reader.error(1, "the policy is empty; expected a mapping with keys \(topLevelKeys.joined(separator: ", "))")
        }
        let fields = try reader.fields(root, "the policy", allowed: topLevelKeys)
        for key in topLevelKeys { _ = try fields.required(key) }

        let versionNode = try fields.required("version")
        let version = try reader.text(versionNode, "'version'")
        guard version == "1" else { throw reader.error(versionNode.line, "unsupported version '\(version)'; the only version is 1") }

        let defaultNode = try fields.required("default")
        let defaultVerdict = try reader.text(defaultNode, "'default'")
        guard defaultVerdict == "deny" else {
            throw reader.error(defaultNode.line, "'default' must be 'deny' (the policy is an allow-list), not '\(defaultVerdict)'")
        }

        let layers = try parseLayers(fields.required("layers"), reader)
        var rules: [PolicyRule] = []
        let ruleNodes = try reader.list(fields.required("rules"), "'rules'", example: "[] or a list of rule mappings")
        for (index, node) in ruleNodes.enumerated() {
            let rule = try parseRule(node, number: index + 1, layers: layers, reader)
            if let earlier = rules.first(where: { $0.name == rule.name }) {
                throw reader.error(rule.line, "duplicate rule name '\(rule.name)' (also at line \(earlier.line))")
            }
            if let earlier = rules.first(where: { $0.from == rule.from && $0.to == rule.to }) {
                throw reader.error(rule.line, "rules '\(earlier.name)' (line \(earlier.line)) and '\(rule.name)' both cover "
                                   + "\(rule.from) → \(rule.to); which one applies would be ambiguous, so merge them")
            }
            rules.append(rule)
        }
        return Policy(version: 1, layers: layers, rules: rules, source: source)
    }

    private static func parseLayers(_ node: ConfigurationNode, _ reader: ConfigurationReader) throws(ConfigurationError) -> [String] {
        let items = try reader.list(node, "'layers'", example: "[presentation, application, domain, infrastructure]")
        guard !items.isEmpty else { throw reader.error(node.line, "'layers' lists no layer") }
        var layers: [(name: String, line: Int)] = []
        for item in items {
            let name = try reader.text(item, "a layer")
            if let problem = Names.layerProblem(name) { throw reader.error(item.line, problem) }
            if let earlier = layers.first(where: { $0.name == name }) {
                throw reader.error(item.line, "duplicate layer '\(name)' (also at line \(earlier.line))")
            }
            layers.append((name, item.line))
        }
        return layers.map(\.name)
    }

    private static func parseRule(_ node: ConfigurationNode, number: Int, layers: [String],
                                  _ reader: ConfigurationReader) throws(ConfigurationError) -> PolicyRule {
        let fields = try reader.fields(node, "rule #\(number)", allowed: ruleKeys, nameKey: "name", kind: "rule")
        for key in ruleKeys where key != "rate" { _ = try fields.required(key) }
        let nameNode = try fields.required("name")
        let name = try reader.text(nameNode, "\(fields.what): 'name'")
        let label = "rule '\(name)'"
        if let problem = ruleNameProblem(name) { throw reader.error(nameNode.line, problem) }

        let commentNode = try fields.required("comment")
        let comment = try reader.text(commentNode, "\(label): 'comment'")
        guard comment.contains(where: { !$0.isWhitespace }) else {
            throw reader.error(commentNode.line, "\(label): 'comment' is blank; say why the edge exists")
        }

        var edge: [String] = []
        for key in ["from", "to"] {
            let layerNode = try fields.required(key)
            let layer = try reader.text(layerNode, "\(label): '\(key)'")
            guard layers.contains(layer) else {
                throw reader.error(layerNode.line, "\(label): '\(key)' layer '\(layer)' is not one of the layers "
                                   + "(\(layers.joined(separator: ", ")))")
            }
            edge.append(layer)
        }

        let kindsNode = try fields.required("kinds")
        let kindItems = try reader.list(kindsNode, "\(label): 'kinds'", example: "[help, clarification, coordinate, call]")
        guard !kindItems.isEmpty else { throw reader.error(kindsNode.line, "\(label): 'kinds' lists no kind") }
        var kinds: Set<RequestKind> = []
        let known = RequestKind.allCases.map(\.description)
        for item in kindItems {
            let word = try reader.text(item, "\(label): a kind")
            guard let kind = RequestKind.allCases.first(where: { $0.description == word }) else {
                throw reader.error(item.line, "\(label): unknown kind '\(word)' (known: \(known.joined(separator: ", ")))")
            }
            guard kinds.insert(kind).inserted else { throw reader.error(item.line, "\(label): kind '\(word)' is listed twice") }
        }

        let payloadNode = try fields.required("max_payload")
        let payloadText = try reader.text(payloadNode, "\(label): 'max_payload'")
        guard let maxPayload = ByteSize.parse(payloadText) else {
            throw reader.error(payloadNode.line, "\(label): bad max_payload '\(payloadText)'; "
                               + "expected bytes as an integer or with a B, KB, MB, GB, KiB, MiB or GiB suffix (65536, 64KB, 1MiB)")
        }

        var rate: Rate?
        if let rateNode = fields.optional("rate") {
            let rateText = try reader.text(rateNode, "\(label): 'rate'")
            guard let parsed = Rate(rateText) else {
                throw reader.error(rateNode.line, "\(label): bad rate '\(rateText)'; expected <count>/<period> "
                                   + "such as 100/s, 10/min, 5/h, 20/100ms or 1/2s (omit 'rate' for no limit)")
            }
            rate = parsed
        }
        return PolicyRule(name: name, comment: comment, from: edge[0], to: edge[1], kinds: kinds,
                          maxPayloadBytes: maxPayload, rate: rate, line: node.line)
    }

    /// Why `name` cannot name a rule, or nil: 1–64 of `A–Z a–z 0–9 _ - .`, and not the reserved `default-deny`.
    static func ruleNameProblem(_ name: String) -> String? {
        if name == PolicyDecision.defaultDenyRule { return "rule name '\(name)' is reserved for denials no rule covers" }
        if name.isEmpty { return "rule name is empty" }
        if name.utf8.count > 64 { return "rule name '\(name)' is longer than 64 bytes" }
        if let bad = name.unicodeScalars.first(where: { !($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)
                                                                          || "_-.".unicodeScalars.contains($0))) }) {
            return "rule name '\(name)' contains '\(bad)'; allowed: A-Z a-z 0-9 _ - ."
        }
        return nil
    }
}

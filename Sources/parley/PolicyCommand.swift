import ArgumentParser
import ParleyPolicy
import ParleyWire

/// `parley policy`: check a gateway policy file, and explain what it decides for one request.
struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Check and explain a gateway policy file.",
        subcommands: [Check.self, Explain.self]
    )

    /// `parley policy check FILE`.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file and print the edges it allows.",
            discussion: """
                Prints "FILE: OK — N rules over layers …" and a table of the allowed edges, and exits 0.
                On a problem prints one line, FILE:LINE: PROBLEM, and exits 1.
                """
        )

        @Argument(help: "The policy file.")
        var file: String

        func run() async throws {
            let policy: Policy
            do {
                policy = try Policy.load(path: file)
            } catch {
                print(error.description)
                throw ExitCode.failure
            }
            let count = policy.rules.count
            print("\(file): OK — \(count) rule\(count == 1 ? "" : "s") over layers \(policy.layers.joined(separator: ", "))")
            print(EdgeTable(policy).text, terminator: "")
        }
    }

    /// `parley policy explain --from A --to B …`.
    struct Explain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say whether the policy allows one request, and by which rule.",
            discussion: """
                Prints "ALLOW by rule NAME: COMMENT", "DENY by rule NAME: REASON" or "DENY (default-deny): REASON".
                Rates are per caller and not evaluated here.
                Exit status: 0 when allowed, 1 when denied, 2 when the policy file is invalid.
                """
        )

        @Option(help: "The calling layer.")
        var from: String

        @Option(help: "The called layer.")
        var to: String

        @Option(help: "The request kind: help, clarification, coordinate or call.")
        var kind = "call"

        @Option(help: "The payload size in bytes (an integer, or with a B, KB, MB, GB, KiB, MiB or GiB suffix).")
        var payload = "0"

        @Option(help: "The policy file.")
        var policy = "deploy/policy.yaml"

        func validate() throws {
            guard RequestKind.allCases.contains(where: { $0.description == kind }) else {
                throw ValidationError("--kind must be one of \(RequestKind.allCases.map(\.description).joined(separator: ", ")), not '\(kind)'")
            }
            guard ByteSize.parse(payload) != nil else {
                throw ValidationError("--payload must be a byte count such as 512, 64KiB or 1MiB, not '\(payload)'")
            }
        }

        func run() async throws {
            let loaded: Policy
            do {
                loaded = try Policy.load(path: policy)
            } catch {
                print(error.description)
                throw ExitCode(2)
            }
            let requestKind = RequestKind.allCases.first { $0.description == kind } ?? .call
            let decision = loaded.decide(PolicyQuery(fromLayer: from, toLayer: to, kind: requestKind,
                                                     payloadBytes: ByteSize.parse(payload) ?? 0))
            print(decision.description)
            if !decision.isAllowed { throw ExitCode.failure }
        }
    }
}

/// The allowed edges of a policy as an aligned text table, one rule per row, ending with the default.
private struct EdgeTable {
    let text: String

    init(_ policy: Policy) {
        let header = ["EDGE", "KINDS", "MAX PAYLOAD", "RATE", "RULE"]
        let rows = policy.rules.map { rule in
            ["\(rule.from) → \(rule.to)", rule.kindNames.joined(separator: ", "), ByteSize.format(rule.maxPayloadBytes),
             rule.rate.map { "\($0) per caller" } ?? "no limit", "\(rule.name) (line \(rule.line))"]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            let padded = cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }
            return "  " + padded.joined(separator: "  ") + "\n"
        }
        var text = line(header)
        for row in rows { text += line(row) }
        text += "  any other edge, kind, size: denied (default-deny)\n"
        self.text = text
    }
}

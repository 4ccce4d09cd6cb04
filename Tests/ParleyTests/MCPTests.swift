import Foundation
import MCP
import Parley
import ParleyChildProcess
import SystemPackage
import Testing

/// `parley mcp` driven by a real MCP client (the swift-sdk's `Client`) over the process's stdin and stdout, two
/// pipes of this process.
final class MCPSession: Sendable {
    let child: ChildProcess
    let client = Client(name: "parley-tests", version: "1")
    /// This side's ends of the pipes: the server's stdin (written) and stdout (read).
    private let toServer: Int32
    private let fromServer: Int32

    /// Starts `parley mcp` with `arguments` and completes the MCP handshake.
    init(_ arguments: [String], environment: [String: String] = [:]) async throws {
        let (stdinRead, stdinWrite) = try Self.pipe()
        let (stdoutRead, stdoutWrite) = try Self.pipe()
        (toServer, fromServer) = (stdinWrite, stdoutRead)
        do {
            child = try await ChildProcess(name: "parley mcp", executable: TestProcess.buildDirectory.appendingPathComponent("parley").path,
                                           arguments: ["mcp"] + arguments, environment: environment, standardInput: stdinRead,
                                           standardOutput: .descriptor(stdoutWrite), standardError: .discard)
        } catch {
            for end in [stdinRead, stdinWrite, stdoutRead, stdoutWrite] { Glibc.close(end) }
            throw error
        }
        let transport = StdioTransport(input: FileDescriptor(rawValue: stdoutRead), output: FileDescriptor(rawValue: stdinWrite))
        _ = try await client.connect(transport: transport)
    }

    /// Calls `tool` and returns its text and whether it is an error result.
    func call(_ tool: String, _ arguments: [String: Value] = [:]) async throws -> (text: String, isError: Bool) {
        let (content, isError) = try await client.callTool(name: tool, arguments: arguments)
        let text = content.compactMap { if case .text(let text, _, _) = $0 { text } else { nil } }.joined(separator: "\n")
        return (text, isError ?? false)
    }

    /// Starts a call to `tool` and cancels it (MCP notifications/cancelled) once `cancelling` returns.
    func callCancelled(_ tool: String, _ arguments: [String: Value], after cancelling: () async throws -> Void) async throws {
        let context: RequestContext<CallTool.Result> = try await client.callTool(name: tool, arguments: arguments)
        try await cancelling()
        try await client.cancelRequest(context.requestID, reason: "the test cancels it")
    }

    /// Disconnects the client (ending its transport's read loop), stops the server and closes the pipes.
    func close() async {
        await client.disconnect()
        await child.stop(signal: SIGTERM)
        Glibc.close(toServer)
        Glibc.close(fromServer)
    }

    /// A pipe whose ends are closed on exec (the child gets its end as stdin or stdout only).
    private static func pipe() throws -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        guard Glibc.pipe(&ends) == 0 else { throw TestFailure("pipe: \(String(cString: strerror(errno)))") }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return (ends[0], ends[1])
    }
}

/// Runs `body` with a `parley mcp` session, closing it whether `body` succeeds or throws.
func withMCPSession(_ arguments: [String], environment: [String: String] = [:], _ body: (MCPSession) async throws -> Void) async throws {
    let session = try await MCPSession(arguments, environment: environment)
    do {
        try await body(session)
    } catch {
        await session.close()
        throw error
    }
    await session.close()
}

/// The request_id line of a next_request result.
func requestID(in taken: (text: String, isError: Bool)) throws -> Value {
    let line = try #require(taken.text.split(separator: "\n").first { $0.hasPrefix("request_id: ") }, "\(taken)")
    return .string(String(line.dropFirst("request_id: ".count)))
}

extension BrokerIntegration {
    @Suite("parley mcp: an LLM host's MCP client on Parley")
    struct MCPTests {
        @Test("the tools, their descriptions and schemas are the ones docs/mcp/tools.json documents (a change to them is deliberate)")
        func toolList() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
                let tools = try await session.client.listTools().tools
                let required = Dictionary(uniqueKeysWithValues: tools.map { tool in
                    (tool.name, (tool.inputSchema.objectValue?["required"]?.arrayValue ?? []).compactMap(\.stringValue))
                })
                #expect(tools.map(\.name) == ["request_help", "request_clarification", "coordinate", "call_layer", "publish_event",
                                              "recent_events", "broker_status", "next_request", "reply", "progress"])
                #expect(required == ["request_help": ["to", "problem"], "request_clarification": ["to", "question"],
                                     "coordinate": ["targets", "task"], "call_layer": ["layer", "context"], "publish_event": ["event"],
                                     "recent_events": ["agent"], "broker_status": [], "next_request": [], "reply": ["request_id", "answer"], "progress": ["request_id"]])
                #expect(tools.allSatisfy { ($0.description ?? "").count > 80 }, "every tool tells a model what it does")

                // The whole catalogue (descriptions and schemas) against docs/mcp/tools.json, the documented contract:
                // changing a tool means changing that file in the same commit.
                let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
                let documented = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("docs/mcp/tools.json")))
                                              as? [[String: Any]])
                let served = try tools.map { tool -> [String: Any] in
                    ["name": tool.name, "description": tool.description ?? "",
                     "inputSchema": try JSONSerialization.jsonObject(with: JSONEncoder().encode(tool.inputSchema))]
                }
                let trimmed = documented.map { ["name": $0["name"] ?? "", "description": $0["description"] ?? "", "inputSchema": $0["inputSchema"] ?? [:]] }
                #expect(NSArray(array: served).isEqual(to: trimmed), "the tools differ from docs/mcp/tools.json; update it if the change is meant")
            }
        }

        @Test("request_help is answered by a Swift agent; an unknown agent is an error result naming NO_ROUTE and the agents that exist")
        func requestHelp() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let helper = try await connectedAgent("helper", capabilities: ["math"], broker: broker) { request in
                .answer(bytes: Array(#"{"sum":4,"from":"\#(request.requester)"}"#.utf8))
            }
            try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
                let answer = try await session.call("request_help", ["to": "cap:math", "problem": ["q": "2+2"]])
                #expect(!answer.isError && answer.text == #"{"sum":4,"from":"llm"}"#, "\(answer)")
                let missing = try await session.call("request_help", ["to": "nobody", "problem": "hi"])
                #expect(missing.isError && missing.text.hasPrefix("NO_ROUTE: ") && missing.text.contains("helper (layer domain; math)"),
                        "\(missing)")
                await helper.close()
            }
        }

        @Test("a request to the MCP agent is taken with next_request and answered with reply; one left past its deadline ends TIMEOUT and a late reply is told so")
        func serving() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            try await withMCPSession(["--broker", broker.endpoint, "--id", "llm", "--cap", "reasoning"]) { session in
                let asker = try await connectedAgent("asker", broker: broker)
                let answered = Task { await asker.send(.clarification, to: .capability("reasoning"), body: Array(#""why?""#.utf8), timeout: .seconds(20)) }
                let taken = try await session.call("next_request", ["wait_seconds": 10])
                #expect(taken.text.contains("kind: clarification") && taken.text.contains("requester: asker") && taken.text.contains(#""why?""#),
                        "\(taken)")
                let id = try requestID(in: taken)
                #expect(try await session.call("progress", ["request_id": id, "note": "thinking", "extend_seconds": 20]).text == "done")
                #expect(try await session.call("reply", ["request_id": id, "answer": ["because": 42]]).text == "done")
                let outcome = await answered.value
                #expect(outcome.status == .ok && outcome.text == #"{"because":42}"#, "\(outcome.status) \(outcome.text)")

                let late = Task { await asker.send(.help, to: .agent("llm"), body: Array("1".utf8), timeout: .seconds(1)) }
                let second = try await session.call("next_request", ["wait_seconds": 10])
                let lateID = try requestID(in: second)
                #expect(await late.value.status == .timeout, "the requester is told TIMEOUT at its deadline")
                try await Task.sleep(for: .milliseconds(300))
                let tooLate = try await session.call("reply", ["request_id": lateID, "answer": "sorry"])
                #expect(tooLate.isError && tooLate.text.contains("too late") && tooLate.text.contains("deadline passed"), "\(tooLate)")
                await asker.close()
            }
        }

        @Test("call_layer goes through the gateway: a call the policy forbids is an UNAUTHORIZED error result, an allowed one is answered")
        func crossLayer() async throws {
            let folder = try TemporaryFolder()
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let gateway = try await GatewayProcess(broker: broker, in: folder)
            defer { gateway.stop() }
            let store = try await connectedAgent("store", layer: "infrastructure", capabilities: ["persistence"], broker: broker) { request in
                .answer(bytes: request.body)
            }
            try await withMCPSession(["--broker", broker.endpoint, "--gateway", gateway.endpoint, "--id", "llm", "--layer", "domain"]) { session in
                let allowed = try await session.call("call_layer", ["layer": "infrastructure", "need": "persistence", "context": ["key": "k"]])
                #expect(!allowed.isError && allowed.text == #"{"key":"k"}"#, "\(allowed)")
                let denied = try await session.call("call_layer", ["layer": "presentation", "context": "render this"])
                #expect(denied.isError && denied.text.hasPrefix("UNAUTHORIZED: "), "\(denied)")
                await store.close()
            }
        }

        @Test("publish_event raises the MCP agent's own event; recent_events reads back what an agent's topics retain, oldest first; the same as MCP resources")
        func events() async throws {
            let broker = try await BrokerProcess(["--retention-count", "2"])
            defer { broker.stop() }
            let game = try await connectedAgent("game", broker: broker)
            for level in 1...3 { _ = try await game.publish("on_level", ["level": level]) }
            _ = try await game.publish("on_error", ["why": "x"])
            try await withMCPSession(["--broker", broker.endpoint, "--events", broker.eventsEndpoint, "--id", "llm"]) { session in
                let published = try await session.call("publish_event", ["event": "on_task_complete", "data": ["ok": true]])
                #expect(published.text == "published callback.llm.on_task_complete #1", "\(published)")
                let recent = try await session.call("recent_events", ["agent": "game", "event": "on_level"])
                let lines = recent.text.split(separator: "\n").map(String.init)
                #expect(lines.count == 3 && lines[0] == "GAP callback.game.on_level #1…#1: no longer retained by the broker"
                        && lines[1].hasPrefix("callback.game.on_level #2 ") && lines[1].hasSuffix(#"{"level":2}"#)
                        && lines[2].hasPrefix("callback.game.on_level #3 "), "\(recent)")
                let own = try await session.call("recent_events", ["agent": "llm"])
                #expect(own.text.hasPrefix("callback.llm.on_task_complete #1 ") && own.text.hasSuffix(#"{"ok":true}"#), "\(own)")
                let resources = try await session.client.listResources().resources.map(\.uri)
                #expect(resources == ["parley://broker/status", "parley://events/llm"])
                let ownResource = try await session.client.readResource(uri: "parley://events/llm").first?.text
                #expect(ownResource?.hasPrefix("callback.llm.on_task_complete #1 ") == true, "\(ownResource ?? "nothing")")
                #expect(try await session.client.readResource(uri: "parley://broker/status").first?.text?.contains(#""id":"game""#) == true)
            }
            await game.close()
        }

        @Test("when the broker goes away mid-call, the tool call ends with a clear error long before the request's deadline")
        func brokerGoesAway() async throws {
            let broker = try await BrokerProcess()
            let slow = try await connectedAgent("slow", capabilities: ["ponder"], broker: broker) { _ in
                try await Task.sleep(for: .seconds(60))
                return .answer(bytes: [])
            }
            try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
                let started = ContinuousClock.now
                async let answer = session.call("request_help", ["to": "cap:ponder", "problem": "?", "timeout_seconds": 60])
                try await Task.sleep(for: .seconds(1))
                await broker.child.stop(signal: SIGKILL)
                let ended = try await answer
                #expect(ended.isError && ended.text.contains("stopped answering"), "\(ended)")
                #expect(ContinuousClock.now - started < .seconds(30), "the tool call waited for the deadline")
            }
            await slow.close()
        }

        @Test("bad arguments are MCP errors, not crashes or requests sent anyway; the server keeps serving")
        func badArguments() async throws {
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            try await withMCPSession(["--broker", broker.endpoint, "--id", "llm"]) { session in
                let bad: [(String, [String: Value], String)] = [
                    ("request_help", ["problem": "hi"], "'to' must be a non-empty string"),
                    ("request_help", ["to": "a.b", "problem": "hi"], "'to' must be an agent id"),
                    ("request_help", ["to": "layer:infrastructure", "problem": "hi"], "use call_layer"),
                    ("request_help", ["to": "helper", "problem": "hi", "timeout_seconds": -1], "'timeout_seconds' must be a number"),
                    ("reply", ["request_id": "req-1", "answer": "x", "status": "maybe"], "'status' must be ok, declined or failed"),
                    ("coordinate", ["targets": [], "task": "x"], "'targets' must be a non-empty list"),
                    ("coordinate", ["targets": ["a", "b"], "task": "x", "gather": "quorum", "quorum_size": 3], "'quorum_size' 3 is more than the 2 target(s)"),
                    ("coordinate", ["targets": .array(Array(repeating: "a", count: 33)), "task": "x"], "at most 32 are allowed"),
                    ("coordinate", ["targets": ["a"], "task": .null], "'task' is required (null counts as absent)"),
                    ("recent_events", ["agent": "game", "limit": "ten"], "'limit' must be a whole number from 1 to 500"),
                    ("recent_events", ["agent": "game", "from_sequence": 0], "'from_sequence' must be a whole number of at least 1"),
                    ("reply", ["request_id": "req-1", "answer": .null], "'answer' is required"),
                    ("request_help", ["to": "helper", "problem": .null], "'problem' is required"),
                    ("no_such_tool", [:], "unknown tool"),
                ]
                for (tool, arguments, says) in bad {
                    do {
                        let result = try await session.call(tool, arguments)
                        Issue.record("\(tool) \(arguments) was accepted: \(result)")
                    } catch let error as MCPError {
                        #expect("\(error)".contains(says), "\(tool): \(error)")
                    }
                }
                #expect(try await session.call("reply", ["request_id": "req-9", "answer": "x"]).text.contains("no request req-9 is waiting"))
                #expect(try await session.call("broker_status").text.contains(#""id":"llm""#), "still serving after the bad calls")
            }
        }
    }
}

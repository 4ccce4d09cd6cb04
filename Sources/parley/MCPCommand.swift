import ArgumentParser
import Foundation
import Logging
import MCP
import Parley
import ParleyMCP

/// `parley mcp`: a Model Context Protocol server over stdio through which an LLM host joins Parley as one agent.
struct MCPCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mcp",
        abstract: "Serve Parley's tools to an LLM host over the Model Context Protocol (stdio), as one registered agent.",
        discussion: """
            Standard input and output carry MCP; logs go to standard error. The agent stays registered while the \
            host runs the command. Tools: request_help, request_clarification, coordinate, call_layer, \
            publish_event, recent_events, broker_status, and for serving next_request, reply, progress (README "LLM agents").
            """
    )

    @OptionGroup var connection: BrokerOptions

    @Option(help: "The agent id (environment: PARLEY_AGENT_ID; default: mcp-<random>).")
    var id = ProcessInfo.processInfo.environment["PARLEY_AGENT_ID"] ?? "mcp-\(CallbackID.random().description.prefix(8))"

    @Option(help: "The agent's layer (environment: PARLEY_LAYER).")
    var layer = ProcessInfo.processInfo.environment["PARLEY_LAYER"] ?? "domain"

    @Option(name: .customLong("cap"), help: "A capability the agent offers (repeat; environment: PARLEY_CAPABILITIES, comma-separated).")
    var capabilities = ProcessInfo.processInfo.environment["PARLEY_CAPABILITIES"].map { list in
        list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    } ?? []

    @Option(name: .customLong("max-deadline-ms"),
            help: "The broker's --max-deadline-ms: progress never asks past it (environment: PARLEY_MAX_DEADLINE_MS; default 600000).")
    var maxDeadline = ProcessInfo.processInfo.environment["PARLEY_MAX_DEADLINE_MS"].flatMap { Int($0) } ?? 600_000

    func validate() throws {
        if let raw = ProcessInfo.processInfo.environment["PARLEY_MAX_DEADLINE_MS"], Int(raw) == nil {
            throw ValidationError("PARLEY_MAX_DEADLINE_MS must be a whole number of milliseconds, not '\(raw)'")
        }
        guard maxDeadline >= 1 else { throw ValidationError("--max-deadline-ms must be at least 1") }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)  // standard output is the MCP channel
            handler.logLevel = .notice
            return handler
        }
        let inbox = RequestInbox(maxDeadline: .milliseconds(maxDeadline))
        let agent = try Agent(connection.agentConfiguration(id: id, layer: layer, capabilities: capabilities))
        agent.serve { request in await inbox.handle(request) }
        try await connection.requireBroker()
        try await agent.connect()
        let calls = ParleyToolCalls(agent: agent, inbox: inbox)
        let server = Server(name: "parley", version: ParleyVersion.current,
                            capabilities: .init(resources: .init(subscribe: false, listChanged: false), tools: .init(listChanged: false)))
        await server.withMethodHandler(ListTools.self) { _ in .init(tools: ParleyToolCatalog.tools) }
        await server.withMethodHandler(CallTool.self) { parameters in try await calls.call(parameters.name, parameters.arguments) }
        await server.withMethodHandler(ListResources.self) { _ in .init(resources: calls.resources, nextCursor: nil) }
        await server.withMethodHandler(ReadResource.self) { parameters in .init(contents: try await calls.read(parameters.uri)) }
        try await server.start(transport: StdioTransport())
        await server.waitUntilCompleted()
        await agent.close()
    }
}

import Foundation

/// The console's routes, shared by the broker and the gateway: `/` is the page, `/api/<name>` the read-only JSON
/// endpoints. Unknown endpoints are 404 and unknown or bad query parameters 400, each with a JSON `error`.
public struct ConsoleAPI: Sendable {
    /// One JSON endpoint: the query parameters it takes, and its answer (built on the metrics server's thread).
    public struct Endpoint: Sendable {
        public var parameters: Set<String>
        public var answer: @Sendable (HTTPRequestTarget) -> HTTPResponse

        public init(parameters: Set<String> = [], answer: @escaping @Sendable (HTTPRequestTarget) -> HTTPResponse) {
            self.parameters = parameters
            self.answer = answer
        }
    }

    private let page: HTTPResponse
    private let endpoints: [String: Endpoint]

    /// `page` served at `/`, `endpoints` at `/api/<key>`.
    public init(page: HTTPResponse, endpoints: [String: Endpoint]) {
        self.page = page
        self.endpoints = endpoints
    }

    /// The answer for `target`, or nil for a path outside the console (`/metrics` and the like).
    public func route(_ target: HTTPRequestTarget) -> HTTPResponse? {
        if target.path == "/" || target.path == "/index.html" { return page }
        guard target.path.hasPrefix("/api/") else { return nil }
        let name = String(target.path.dropFirst("/api/".count))
        guard let endpoint = endpoints[name] else {
            return Self.error(404, "no such API endpoint: \(target.path) (there are: \(endpoints.keys.sorted().map { "/api/\($0)" }.joined(separator: ", ")))")
        }
        if let unknown = target.unknownParameters(endpoint.parameters).first {
            let known = endpoint.parameters.isEmpty ? "none" : endpoint.parameters.sorted().joined(separator: ", ")
            return Self.error(400, "unknown query parameter '\(unknown)' for \(target.path) (it takes: \(known))")
        }
        return endpoint.answer(target)
    }

    /// A JSON response of `value`, keys in snake case and sorted.
    public static func json(_ value: some Encodable) -> HTTPResponse {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let body = try? encoder.encode(value) else { return error(500, "the answer could not be encoded") }
        return HTTPResponse(status: 200, contentType: "application/json", body: Array(body) + [UInt8(ascii: "\n")])
    }

    /// `{"error": message}` with `status`.
    public static func error(_ status: Int, _ message: String) -> HTTPResponse {
        var response = json(["error": message])
        response.status = status
        return response
    }
}

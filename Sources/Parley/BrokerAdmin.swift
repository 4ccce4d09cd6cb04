/// Administers a broker (ADMIN → ADMIN_REPLY, docs/PROTOCOL.md §6.15): evict an agent, purge a topic's retained
/// events. The broker obeys only an admin identity: with CURVE, a key whose keys-file entry says `admin: true`;
/// without CURVE, a connection from the broker's own host. Needs no registration.
public enum BrokerAdmin {
    /// What the broker answered.
    public struct Answer: Sendable, Equatable {
        /// OK, UNAUTHORIZED (not an admin identity), NO_ROUTE (no such agent or topic) or BAD_REQUEST (a bad name).
        public var status: Status
        /// What was done, or why not.
        public var detail: String
    }

    /// Unregisters agent `id` at once, as if it had said BYE: what it was serving goes to other agents (or waits),
    /// requests addressed to it end UNAVAILABLE. A running agent may register again.
    public static func evict(agent id: String, endpoint: String, curve: CurveClientKeys? = nil,
                             timeout: Duration = .seconds(3)) async throws -> Answer {
        try await ask(AdminCommand(action: .evict, target: id), endpoint: endpoint, curve: curve, timeout: timeout)
    }

    /// Drops every event `topic` retains; its sequence goes on, so replaying them gets GAP.
    public static func purge(topic: String, endpoint: String, curve: CurveClientKeys? = nil,
                             timeout: Duration = .seconds(3)) async throws -> Answer {
        try await ask(AdminCommand(action: .purge, target: topic), endpoint: endpoint, curve: curve, timeout: timeout)
    }

    /// Throws `ParleyError.brokerUnreachable` when no ADMIN_REPLY (nor an ERROR) comes within `timeout`.
    private static func ask(_ command: AdminCommand, endpoint: String, curve: CurveClientKeys?, timeout: Duration) async throws -> Answer {
        let answer = try await OneShotQuestion.ask(.admin(command), endpoint: endpoint, curve: curve,
                                                   timeoutMilliseconds: timeout.wholeMilliseconds) { header, body in
            let text = String(decoding: body ?? [], as: UTF8.self)
            switch header {
            case .adminReply(let reply): return Answer(status: reply.status, detail: text)
            case .error(let notice) where notice.command == CommandCode.admin.rawValue: return Answer(status: notice.status, detail: text)
            default: return nil
            }
        }
        guard let answer else { throw ParleyError.brokerUnreachable(endpoint: endpoint) }
        return answer
    }
}

import Foundation
import Parley

/// Asks a gateway how it is (STATUS → STATUS_REPLY with a small JSON document). Needs no registration.
enum GatewayStatus {
    /// What a gateway says about itself.
    struct Report: Decodable {
        /// `connected` when the broker has welcomed the gateway, else `disconnected`.
        var broker: String
        var draining: Bool
        var callers: Int
        var forwards: Int
        var rules: Int
    }

    /// Why a gateway is not healthy.
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The gateway's report within `timeoutMilliseconds`, or a ``Failure`` saying what was wrong.
    static func fetch(endpoint: String, curve: CurveClientKeys?, timeoutMilliseconds: Int) async throws -> Report {
        let answer = try await StatusAnswer.ask(endpoint: endpoint, curve: curve, timeoutMilliseconds: UInt64(max(timeoutMilliseconds, 1)),
                                                refusalEnds: true)
        switch answer {
        case .reply(let bytes):
            guard let report = try? JSONDecoder().decode(Report.self, from: Data(bytes)) else {
                throw Failure(description: "unreadable STATUS_REPLY from the gateway")
            }
            return report
        case .refused:
            throw Failure(description: "the process at \(endpoint) refused STATUS: it is alive but not a Parley gateway of this version")
        case .silent:
            throw Failure(description: "no answer within \(timeoutMilliseconds) ms")
        }
    }
}

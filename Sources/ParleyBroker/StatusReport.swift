import Foundation
import ParleyWire

/// Encodes the STATUS_REPLY body. Admin path only: Foundation is fine here, never per request.
enum StatusReport {
    static func json(_ snapshot: BrokerSnapshot) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? Array(encoder.encode(snapshot))) ?? Array(#"{"error":"status could not be encoded"}"#.utf8)
    }
}

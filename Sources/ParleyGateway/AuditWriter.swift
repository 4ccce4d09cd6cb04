import Logging

/// The reactor's side of the audit trail: writes each batch of records and logs a failure once per episode, when
/// writing first fails and when it works again (every call in between is refused, which the metrics count).
struct AuditWriter {
    let log: AuditLog
    let logger: Logger
    /// Records not written since the current failure episode began; nil while writing works.
    private var unwrittenInEpisode: UInt64?

    init(log: AuditLog, logger: Logger) {
        self.log = log
        self.logger = logger
    }

    /// Writes `records` in one write; false when they could not be written.
    mutating func write(_ records: [AuditRecord]) -> Bool {
        do {
            try log.append(records)
        } catch {
            if unwrittenInEpisode == nil {
                logger.error("cannot write the audit trail: cross-layer calls get UNAVAILABLE until a write succeeds again",
                             metadata: ["event": "audit_failed", "audit_log": "\(log.path)", "error": "\(error)"])
            }
            unwrittenInEpisode = (unwrittenInEpisode ?? 0) + UInt64(records.count)
            return false
        }
        if let unwritten = unwrittenInEpisode {
            logger.notice("the audit trail is writable again: cross-layer calls go through",
                          metadata: ["event": "audit_recovered", "audit_log": "\(log.path)", "refused_calls": .stringConvertible(unwritten)])
            unwrittenInEpisode = nil
        }
        return true
    }
}

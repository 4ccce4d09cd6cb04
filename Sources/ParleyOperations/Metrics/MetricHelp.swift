/// The `# HELP` text of every metric the broker and the gateway export (deploy/OPERATIONS.md, "Metrics", says
/// the same at more length). swift-metrics carries no help text, so the exposition adds these lines itself.
enum MetricHelp {
    static let texts: [String: String] = [
        "process_start_time_seconds": "Start time of the process since the Unix epoch, in seconds.",
        "process_resident_memory_bytes": "Resident memory size, in bytes.",
        "process_virtual_memory_bytes": "Virtual memory size, in bytes.",
        "process_open_fds": "Open file descriptors.",
        "process_max_fds": "Maximum number of open file descriptors.",
        "process_threads": "Threads of the process.",
        "process_cpu_seconds_total": "User and system CPU time spent, in seconds.",
        "parley_uptime_seconds": "Seconds since the process started.",
        "parley_build_info": "Always 1; the labels say which program and version run.",
        "parley_broker_requests_total": "Outcomes sent to requesters, by status.",
        "parley_broker_requests_accepted_total": "Requests accepted for routing.",
        "parley_broker_deliveries_total": "DELIVERs sent to serving agents.",
        "parley_broker_redeliveries_total": "DELIVERs after the first for the same request (its agent died or went silent).",
        "parley_broker_late_replies_total": "Replies that came after their request had ended.",
        "parley_broker_dedupe_hits_total": "Retries answered from the pending requests or the outcome cache.",
        "parley_broker_malformed_total": "Messages refused as malformed.",
        "parley_broker_duplicate_ids_refused_total": "HELLOs refused because a live agent holds the id.",
        "parley_broker_dropped_at_hwm_total": "Messages dropped because a peer's queue was full.",
        "parley_broker_events_published_total": "Events stamped and sent to the events socket.",
        "parley_broker_events_replayed_total": "Events sent again in answer to REPLAY.",
        "parley_broker_event_gaps_total": "GAP notices sent (events retention no longer held).",
        "parley_broker_event_dedupe_hits_total": "Publisher resends answered with the original CONFIRM.",
        "parley_broker_agents": "Registered agents, alive or away (silent, may come back).",
        "parley_broker_gateways": "Registered gateways.",
        "parley_broker_pending_requests": "Requests accepted and not ended.",
        "parley_broker_waiting_requests": "Pending requests not delivered yet (no agent, or none with room).",
        "parley_broker_cached_outcomes": "Outcomes kept to answer retries.",
        "parley_broker_topics": "Topics that carried an event.",
        "parley_broker_journal_full": "1 while the data directory has no room for the journal (publishes refused).",
        "parley_broker_draining": "1 during graceful shutdown.",
        "parley_broker_sample_age_seconds": "Age of the figures, in seconds.",
        "parley_gateway_decisions_total": "Policy decisions by deciding rule and verdict.",
        "parley_gateway_outcomes_total": "Outcomes sent to callers, by status.",
        "parley_gateway_forward_duration_seconds": "From forwarding a call to the broker to its outcome, in seconds.",
        "parley_gateway_callers": "Registered callers.",
        "parley_gateway_forwards_in_flight": "Calls forwarded and not answered yet.",
        "parley_gateway_broker_connected": "1 when the broker has welcomed the gateway.",
        "parley_gateway_policy_rules": "Rules of the policy in force.",
        "parley_gateway_draining": "1 during graceful shutdown.",
        "parley_gateway_policy_reloads_total": "SIGHUP policy reloads, applied or rejected.",
        "parley_gateway_audit_failures_total": "Audit records that could not be written (each such call was refused).",
        "parley_gateway_sample_age_seconds": "Age of the figures, in seconds.",
    ]

    /// `exposition` with a `# HELP` line before each `# TYPE` line of a metric this table knows.
    static func adding(to exposition: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(exposition.count + texts.count * 80)
        for line in exposition.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            if line.starts(with: "# TYPE ".utf8) {
                let name = String(decoding: line.dropFirst(7).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                if let help = texts[name] { output.append(contentsOf: "# HELP \(name) \(help)\n".utf8) }
            }
            output.append(contentsOf: line)
            output.append(UInt8(ascii: "\n"))
        }
        output.removeLast()  // the split gave back the final newline as an empty last line
        return output
    }
}

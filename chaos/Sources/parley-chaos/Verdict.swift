import Foundation
import Parley

/// The figures of a finished run and the checks on them.
struct Verdict {
    // requests
    var issued = 0
    var outcomes: [String: Int] = [:]
    var localOutcomes: [String: Int] = [:]
    var mismatched = 0
    var lost = 0
    var lostBy: [String] = []
    var inFlightAtKill = 0
    var killedRequesterIncarnations = 0
    var slowestMilliseconds = 0
    // serving
    var handled = 0
    var redelivered = 0
    var revoked = 0
    var maxAttempt = 0
    // broker
    var dedupeHits: UInt64 = 0
    var eventDedupeHits: UInt64 = 0
    var brokerRedeliveries: UInt64 = 0
    var lateReplies: UInt64 = 0
    var brokerAccepted: UInt64 = 0
    var pendingAfterDrain: Int?
    var statusFailures = 0
    var brokerIncarnations = 0
    // events
    var published = 0
    var confirmed = 0
    var unconfirmed = 0
    var regressions = 0
    var delivered = 0
    var deliveredBy: [String] = []
    var replayed = 0
    var gapNotices = 0
    var gappedEvents: UInt64 = 0
    var gapsBy: [String] = []
    var silentHoles = 0
    var holesBy: [String] = []
    var payloadMismatches = 0
    var outOfOrder = 0
    var foreign = 0
    // process health
    /// Registrations refused before one succeeded (a restarted agent whose id was still held by its dead predecessor).
    var registrationRetries = 0
    var missingFigures: [String] = []
    var unexpectedExits: [String] = []
    var faults: [FaultKind: Int] = [:]
    var seed: UInt64 = 0
    var duration: Double = 0
    var strict = false
    /// Outcomes other than OK, by status: how many came within 2 s after the broker came back (restarted
    /// or resumed), within 2 s after the gateway came back, or at another time.
    var explained: [String: [String: Int]] = [:]
    /// Per requester incarnation, the statuses other than OK it got.
    var notableBy: [String: [String: Int]] = [:]
    /// Per requester incarnation and status other than OK: when the incarnation started and when the first
    /// and last such outcome came (seconds since the harness started).
    var notableSpans: [String: [String: (started: Double, first: Double, last: Double)]] = [:]

    init(orchestrator: Orchestrator) {
        let cluster = orchestrator.cluster
        seed = orchestrator.settings.seed
        duration = orchestrator.settings.duration
        faults = orchestrator.faults
        unexpectedExits = cluster.unexpectedExits
        statusFailures = orchestrator.statusFailures
        strict = orchestrator.settings.strict
        let brokerBack = orchestrator.brokerBack
        let gatewayBack = orchestrator.gatewayBack
        func within(_ times: [UInt64], before moment: UInt64) -> Bool {
            times.contains { $0 <= moment && moment - $0 <= 2_000 }
        }

        for slot in cluster.agents where slot.incarnation > 0 {
            for incarnation in 1...slot.incarnation {
                let killed = slot.killed.contains(incarnation)
                let name = "\(slot.id)#\(incarnation)"
                guard let figures = cluster.figures(slot, incarnation: incarnation) else {
                    if !killed { missingFigures.append(name) }
                    continue
                }
                if !killed && !figures.final { missingFigures.append("\(name) (no final figures)") }
                registrationRetries += max(0, figures.connectAttempts - 1)
                if let requests = figures.requests {
                    issued += requests.issued
                    outcomes.merge(requests.outcomes, uniquingKeysWith: +)
                    localOutcomes.merge(requests.localOutcomes, uniquingKeysWith: +)
                    mismatched += requests.mismatched
                    slowestMilliseconds = max(slowestMilliseconds, requests.slowestMilliseconds)
                    for entry in requests.notable where entry.count == 2 {
                        let status = Status(rawValue: UInt8(clamping: entry[1])).map { "\($0)" } ?? "status \(entry[1])"
                        let when = within(brokerBack, before: entry[0]) ? "within 2 s after the broker came back"
                            : within(gatewayBack, before: entry[0]) ? "within 2 s after the gateway came back" : "at other times"
                        explained[status, default: [:]][when, default: 0] += 1
                        notableBy[name, default: [:]][status, default: 0] += 1
                        let at = Double(Int64(entry[0]) - Int64(orchestrator.startedAt)) / 1_000
                        let started = Double(Int64(slot.startedAt[incarnation] ?? orchestrator.startedAt) - Int64(orchestrator.startedAt)) / 1_000
                        let span = notableSpans[name]?[status] ?? (started, at, at)
                        notableSpans[name, default: [:]][status] = (started, min(span.first, at), max(span.last, at))
                    }
                    if killed {
                        killedRequesterIncarnations += 1
                        inFlightAtKill += requests.unresolved
                    } else if requests.unresolved > 0 {
                        lost += requests.unresolved
                        lostBy.append("\(name): \(requests.unresolved)")
                    }
                }
                if let serving = figures.serving {
                    handled += serving.handled
                    redelivered += serving.redelivered
                    revoked += serving.revoked
                    maxAttempt = max(maxAttempt, serving.maxAttempt)
                }
                if let publishing = figures.publishing {
                    published += publishing.attempted
                    confirmed += publishing.confirmed
                    unconfirmed += publishing.unconfirmed
                    regressions += publishing.topics.values.reduce(0) { $0 + $1.regressions }
                }
            }
        }

        brokerIncarnations = cluster.brokerIncarnation
        for snapshot in orchestrator.statuses.values {
            dedupeHits += snapshot.dedupeHits
            eventDedupeHits += snapshot.eventDedupeHits
            brokerRedeliveries += snapshot.redeliveries
            lateReplies += snapshot.lateReplies
            brokerAccepted += snapshot.accepted
        }
        pendingAfterDrain = orchestrator.statuses[cluster.brokerIncarnation]?.pending

        checkEvents(cluster)
    }

    /// Every confirmed event must be, for each subscriber that lived to the end, delivered (with the same
    /// payload) or inside a range a GAP named.
    private mutating func checkEvents(_ cluster: Cluster) {
        var confirmedByTopic: [String: [EventRun]] = [:]
        for slot in cluster.slots(.publisher) where slot.incarnation > 0 {
            for incarnation in 1...slot.incarnation {
                for (topic, confirmed) in cluster.figures(slot, incarnation: incarnation)?.publishing?.topics ?? [:] {
                    confirmedByTopic[topic, default: []] += confirmed.runs
                }
            }
        }
        for slot in cluster.slots(.subscriber) {
            guard let figures = cluster.figures(slot), let receiving = figures.receiving else { continue }
            let name = "\(slot.id)#\(slot.incarnation)"
            var mine = 0
            var holes = 0
            var holeRanges: [String] = []
            for (topic, runs) in confirmedByTopic.sorted(by: { $0.key < $1.key }) {
                let received = receiving.topics[topic] ?? ReceivedTopic()
                var counters: [UInt64: UInt64] = [:]
                for run in received.runs {
                    for offset in 0..<run.count { counters[run.sequence + offset] = run.counter + offset }
                }
                var openHole: (UInt64, UInt64)?
                func closeHole() {
                    if let (from, to) = openHole { holeRanges.append("\(topic) \(from)-\(to)") }
                    openHole = nil
                }
                for run in runs {
                    for offset in 0..<run.count {
                        let sequence = run.sequence + offset
                        if let counter = counters[sequence] {
                            if counter != run.counter + offset { payloadMismatches += 1 }
                            closeHole()
                        } else if received.gaps.contains(where: { $0.count == 2 && $0[0] <= sequence && sequence <= $0[1] }) {
                            closeHole()
                        } else {
                            holes += 1
                            if let (from, to) = openHole, to + 1 == sequence { openHole = (from, sequence) } else {
                                closeHole()
                                openHole = (sequence, sequence)
                            }
                        }
                    }
                }
                closeHole()
            }
            for (topic, received) in receiving.topics.sorted(by: { $0.key < $1.key }) {
                mine += received.delivered
                replayed += received.replayed
                outOfOrder += received.outOfOrder
                foreign += received.foreign
                gapNotices += received.gaps.count
                for gap in received.gaps where gap.count == 2 {
                    gappedEvents += gap[1] - gap[0] + 1
                    gapsBy.append("\(name) \(topic) \(gap[0])-\(gap[1])")
                }
            }
            delivered += mine
            deliveredBy.append("\(name) \(mine)")
            silentHoles += holes
            if holes > 0 { holesBy.append("\(name): \(holes) [\(holeRanges.prefix(8).joined(separator: ", "))]") }
        }
    }

    /// The checks, each with whether it held.
    var checks: [(String, Bool)] {
        [
            ("lost requests = 0", lost == 0),
            ("silent event holes = 0", silentHoles == 0),
            ("answers matching their requests (mismatched = 0)", mismatched == 0),
            ("delivered events carry the confirmed payload (no sequence reused)", payloadMismatches == 0),
            ("events in order, none twice (out of order = 0)", outOfOrder == 0),
            ("confirmed sequences only grow (regressions = 0)", regressions == 0),
            ("every surviving agent reported final figures", missingFigures.isEmpty),
            ("no process ended by itself", unexpectedExits.isEmpty),
            ("the broker holds no pending request after the drain", pendingAfterDrain == 0),
            ("every fault kind injected", FaultKind.allCases.allSatisfy { (faults[$0] ?? 0) > 0 }),
        ]
    }

    /// Behaviour that is not a lost request or a silent hole but that a user would not expect: every edge
    /// of the run is allowed and every capability has servers, so UNAUTHORIZED and NO_ROUTE should not happen.
    var findings: [String] {
        var findings: [String] = []
        for status in ["UNAUTHORIZED", "NO_ROUTE", "BAD_REQUEST"] {
            guard let count = outcomes[status], count > 0 else { continue }
            let who = notableBy.sorted { $0.key < $1.key }.compactMap { name, counts in
                counts[status].map { count in
                    let span = notableSpans[name]?[status]
                    return "\(name) \(count)" + (span.map { String(format: " from +%.1f s to +%.1f s, started +%.1f s", $0.first, $0.last, $0.started) } ?? "")
                }
            }
            findings.append("\(count) \(status) outcome(s) although every call of the run is allowed and routable (\(who.joined(separator: ", ")))")
        }
        return findings
    }

    var passed: Bool { checks.allSatisfy(\.1) && (!strict || findings.isEmpty) }

    func print() {
        func line(_ label: String, _ text: String) {
            Swift.print("  " + label.padding(toLength: 22, withPad: " ", startingAt: 0) + text)
        }
        func statuses(_ counts: [String: Int]) -> String {
            counts.isEmpty ? "none" : counts.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: " · ")
        }
        Swift.print("")
        Swift.print("chaos figures (seed \(seed), \(Int(duration)) s of traffic)")
        line("requests issued", "\(issued)")
        line("outcomes", statuses(outcomes))
        line("  made by the SDK", statuses(localOutcomes) + " (no answer from the broker or gateway in time)")
        line("lost", "\(lost)" + (lostBy.isEmpty ? "" : " (\(lostBy.joined(separator: ", ")))")
            + " — issued by surviving requesters, never resolved")
        line("in flight at a kill", "\(inFlightAtKill) in \(killedRequesterIncarnations) killed requester incarnation(s) (not lost: their requester died)")
        line("slowest outcome", "\(slowestMilliseconds) ms")
        line("mismatched answers", "\(mismatched)")
        line("handled by servers", "\(handled) (revoked \(revoked); killed servers' last figures included)")
        line("duplicates suppressed", "broker de-duplicated \(dedupeHits) request retries and \(eventDedupeHits) event resends;"
             + " handlers saw \(redelivered) redeliveries (attempt > 1, highest \(maxAttempt))")
        line("broker", "\(brokerIncarnations) incarnation(s), accepted \(brokerAccepted), redelivered \(brokerRedeliveries),"
             + " late replies \(lateReplies) (counters of killed incarnations up to their last STATUS);"
             + " pending after drain \(pendingAfterDrain.map(String.init) ?? "unknown"); STATUS unanswered \(statusFailures)×")
        line("events published", "\(published), confirmed \(confirmed), unconfirmed \(unconfirmed)")
        line("events delivered", "\(delivered) (\(deliveredBy.joined(separator: ", "))), of which replayed \(replayed)")
        line("gaps", "\(gapNotices) GAP notice(s) covering \(gappedEvents) event(s)"
             + (gapsBy.isEmpty ? "" : " [\(gapsBy.prefix(6).joined(separator: "; "))\(gapsBy.count > 6 ? "; …" : "")]"))
        line("silent holes", "\(silentHoles)" + (holesBy.isEmpty ? "" : " (\(holesBy.joined(separator: "; ")))"))
        line("out of order / twice", "\(outOfOrder); foreign payloads \(foreign); payload mismatches \(payloadMismatches); confirm regressions \(regressions)")
        line("registration retries", "\(registrationRetries) (restarted agents refused by the broker while it still held their id)")
        let faultText = FaultKind.allCases.map { "\($0.rawValue) ×\(faults[$0] ?? 0)" }.joined(separator: " · ")
        line("faults injected", "\(faults.values.reduce(0, +)): \(faultText)")
        for (status, reasons) in explained.sorted(by: { $0.key < $1.key }) {
            line("  \(status)", reasons.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(separator: " · "))
        }
        if !missingFigures.isEmpty { line("missing figures", missingFigures.joined(separator: ", ")) }
        for exit in unexpectedExits { line("unexpected exit", exit) }
        Swift.print("")
        for (name, held) in checks { Swift.print("  [\(held ? "ok" : "FAILED")] \(name)") }
        for finding in findings { Swift.print("  [\(strict ? "FAILED" : "finding")] \(finding)") }
        Swift.print("")
        Swift.print(passed ? "chaos: PASS" : "chaos: FAIL (" + checks.filter { !$0.1 }.map(\.0).joined(separator: "; ") + ")")
        fflush(nil)
    }
}

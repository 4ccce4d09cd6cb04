import ParleyWire

/// The confirmations of one turn for publishers that asked for ``Features/confirmBatches`` (protocol 1.1): a
/// publisher's consecutive events on one topic, stamped with the same timestamp, leave as one CONFIRMS at the end
/// of the turn instead of a CONFIRM each. Only the batch opened last grows, so that the event ids of all batches
/// sit in one array reused from turn to turn; events of publishers taking turns make one batch each.
struct ConfirmBatches {
    private struct Batch {
        let peer: PeerID
        let topic: Topic
        let firstSequence: UInt64
        let timestamp: UInt64
        let start: Int
        var count: Int
    }

    private var batches: [Batch] = []
    private var eventIDs: [CallbackID] = []

    var isEmpty: Bool { batches.isEmpty }

    /// Adds `confirm` of an event on `topic`, for `peer`.
    mutating func add(_ confirm: Confirm, topic: Topic, peer: PeerID) {
        if let last = batches.last, last.count < ConfirmBatch.maxCount, last.firstSequence &+ UInt64(last.count) == confirm.sequence,
           last.timestamp == confirm.timestamp, last.peer == peer, last.topic == topic {
            batches[batches.count - 1].count += 1
        } else {
            batches.append(Batch(peer: peer, topic: topic, firstSequence: confirm.sequence, timestamp: confirm.timestamp,
                                 start: eventIDs.count, count: 1))
        }
        eventIDs.append(confirm.eventID)
    }

    /// Queues one CONFIRMS per batch in `outbox` and starts over.
    mutating func flush<Payload>(into outbox: inout EncodedOutbox<PeerID, Payload>) {
        for batch in batches {
            outbox.append(to: batch.peer) { bytes in
                HeaderEncoder.encodeConfirmsPrefix(firstSequence: batch.firstSequence, timestamp: batch.timestamp, count: batch.count,
                                                   into: &bytes)
                for index in batch.start..<(batch.start + batch.count) { HeaderEncoder.appendEventID(eventIDs[index], into: &bytes) }
            }
        }
        batches.removeAll(keepingCapacity: true)
        eventIDs.removeAll(keepingCapacity: true)
    }
}

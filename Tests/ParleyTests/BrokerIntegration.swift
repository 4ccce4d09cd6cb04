import Testing

/// Tests against a real `parley-broker` process over tcp on 127.0.0.1. Serialized: each test starts its
/// own broker and agents, and two cores are not enough to run them all at once without noise.
@Suite("Broker process", .serialized, .timeLimit(.minutes(3)))
struct BrokerIntegration {}

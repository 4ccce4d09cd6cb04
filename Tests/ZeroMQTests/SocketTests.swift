import CZeroMQ
import Testing
import ZeroMQ

@Suite("Socket", .timeLimit(.minutes(1)))
struct SocketTests {
    @Test("DEALER to ROUTER multipart round trip delivers the routing id first", arguments: Transport.allCases)
    func dealerRouterRoundTrip(transport: Transport) throws {
        let bindEndpoint = transport.bindEndpoint
        defer { removeIPCFile(bindEndpoint) } // runs last, after the sockets close
        let context = try Context()
        let router = try makeSocket(context, .router)
        let dealer = try makeSocket(context, .dealer)
        defer { dealer.close(); router.close() }

        try router.bind(bindEndpoint)
        let endpoint = try router.lastEndpoint
        if transport == .tcp { #expect(endpoint.hasPrefix("tcp://127.0.0.1:") && !endpoint.hasSuffix("*")) }
        try dealer.setRoutingID(Array("dealer-1".utf8))
        #expect(try dealer.routingID == Array("dealer-1".utf8))
        try dealer.connect(endpoint)

        #expect(try dealer.send("hello", more: true))
        #expect(try dealer.send([0, 1, 2, 255]))

        let request = try #require(try receiveMultipart(router))
        #expect(request.map(\.bytes) == [Array("dealer-1".utf8), Array("hello".utf8), [0, 1, 2, 255]])
        #expect(request.map(\.hasMore) == [true, true, false])

        // Reply through the routing id; the dealer sees only the payload.
        #expect(try router.send(request[0], more: true))
        #expect(request[0].count == 0, "a sent message is left empty")
        #expect(try router.send(Message("world")))
        let reply = try #require(try receiveMultipart(dealer))
        #expect(reply.map(\.string) == ["world"])
        #expect(try dealer.hasMore == false)
    }

    @Test("dontWait receive on an empty socket returns nil instead of throwing")
    func dontWaitReceiveOnEmptySocket() throws {
        let context = try Context()
        let pull = try makeSocket(context, .pull)
        defer { pull.close() }
        try pull.bind("inproc://empty")

        #expect(try pull.receive(dontWait: true) == nil)
        #expect(try pull.receiveMultipart(dontWait: true) == nil)
        let message = Message("previous content")
        #expect(try pull.receive(into: message, dontWait: true) == false)
        #expect(message.count == 0, "libzmq releases the previous content even on EAGAIN")
    }

    @Test("a receive timeout yields nil rather than EAGAIN")
    func receiveTimeoutYieldsNil() throws {
        let context = try Context()
        let pull = try makeSocket(context, .pull)
        defer { pull.close() }
        try pull.bind("inproc://timeout")
        try pull.setReceiveTimeout(milliseconds: 10)
        #expect(try pull.receive() == nil)
    }

    @Test("send with dontWait returns false and keeps the message when no peer is connected", arguments: [SocketType.dealer, .push])
    func sendWouldBlock(type: SocketType) throws {
        let context = try Context()
        let socket = try makeSocket(context, type)
        defer { socket.close() }

        let message = Message("pending")
        #expect(try socket.send(message, dontWait: true) == false)
        #expect(message.string == "pending", "the message still belongs to the caller")
        #expect(try socket.send("bytes", dontWait: true) == false)
        #expect(try socket.send([1, 2, 3], dontWait: true) == false)
        #expect(try (socket.events).contains(.writable) == false)
    }

    @Test("ROUTER with routerMandatory throws hostUnreachable for an unknown routing id")
    func routerMandatoryUnknownPeer() throws {
        let context = try Context()
        let router = try makeSocket(context, .router)
        defer { router.close() }
        try router.setRouterMandatory(true)
        try router.bind("tcp://127.0.0.1:*")

        #expect(throws: ZMQError.hostUnreachable) {
            try router.send("nobody", more: true)
        }
    }

    @Test("maxMessageSize drops an oversized message while smaller ones arrive")
    func maxMessageSizeDisconnectsPeer() throws {
        let context = try Context()
        let pull = try makeSocket(context, .pull)
        let push = try makeSocket(context, .push)
        defer { push.close(); pull.close() }
        try pull.setMaxMessageSize(64)
        try pull.bind("tcp://127.0.0.1:*")
        try push.connect(try pull.lastEndpoint)

        #expect(try push.send("small"))
        #expect(try push.send([UInt8](repeating: 7, count: 1_000)))

        let small = try #require(try receive(pull))
        #expect(small.string == "small")
        #expect(try receive(pull, timeoutMilliseconds: silenceTimeout) == nil, "the oversized message must never arrive")
    }

    @Test("PUB/SUB delivers only messages matching the subscribed prefix")
    func prefixSubscription() throws {
        let context = try Context()
        let pub = try makeSocket(context, .pub)
        let sub = try makeSocket(context, .sub)
        defer { sub.close(); pub.close() }
        try pub.bind("tcp://127.0.0.1:*")
        try sub.subscribe("a.")
        try sub.connect(try pub.lastEndpoint)

        // Slow joiner: publish until the subscription has propagated (bounded).
        var received: [String] = []
        for round in 0..<500 where received.isEmpty {
            try pub.send("b.\(round)")
            try pub.send("a.\(round)")
            if let message = try receive(sub, timeoutMilliseconds: 10) { received.append(message.string) }
        }
        try #require(!received.isEmpty, "the subscriber never joined")

        // Now joined: every further non-matching message would arrive if filtering were broken.
        for round in 0..<10 {
            try pub.send("b.late\(round)")
            try pub.send("a.late\(round)")
        }
        while let message = try receive(sub, timeoutMilliseconds: 200) { received.append(message.string) }

        #expect(received.allSatisfy { $0.hasPrefix("a.") }, "received \(received)")
        #expect(received.contains("a.late9"))
    }

    @Test("XPUB receives subscribe and unsubscribe messages (flag byte + topic)")
    func xpubSeesSubscriptions() throws {
        let endpoint = uniqueIPCEndpoint()
        defer { removeIPCFile(endpoint) } // runs last, after the sockets close
        let context = try Context()
        let xpub = try makeSocket(context, .xpub)
        let sub = try makeSocket(context, .sub)
        defer { sub.close(); xpub.close() }
        try xpub.setXPubVerbose(true)
        try xpub.bind(endpoint)
        try sub.connect(try xpub.lastEndpoint)
        try sub.subscribe(Array("topic".utf8))

        let subscribe = try #require(try receive(xpub))
        #expect(subscribe.bytes == [1] + Array("topic".utf8))

        try sub.unsubscribe(Array("topic".utf8))
        let unsubscribe = try #require(try receive(xpub))
        #expect(unsubscribe.bytes == [0] + Array("topic".utf8))
    }

    @Test("a verbose XPUB passes duplicate subscriptions up")
    func xpubVerboseDuplicates() throws {
        let context = try Context()
        let xpub = try makeSocket(context, .xpub)
        let first = try makeSocket(context, .sub)
        let second = try makeSocket(context, .sub)
        defer { second.close(); first.close(); xpub.close() }
        try xpub.setXPubVerbose(true)
        try xpub.bind("inproc://verbose")
        for sub in [first, second] {
            try sub.connect("inproc://verbose")
            try sub.subscribe("dup")
        }
        for _ in 0..<2 {
            let subscription = try #require(try receive(xpub))
            #expect(subscription.bytes == [1] + Array("dup".utf8))
        }
    }

    @Test("received messages carry peer metadata; absent properties are nil")
    func messageProperties() throws {
        let context = try Context()
        let pull = try makeSocket(context, .pull)
        let push = try makeSocket(context, .push)
        defer { push.close(); pull.close() }
        try pull.bind("tcp://127.0.0.1:*")
        try push.connect(try pull.lastEndpoint)
        try push.send("meta")

        let message = try #require(try receive(pull))
        #expect(message.property("Peer-Address") == "127.0.0.1")
        #expect(message.property("Socket-Type") == "PUSH")
        #expect(message.property("No-Such-Property") == nil)
    }

    @Test("bind errors carry the errno: bad transport, address in use, unknown unbind")
    func bindErrors() throws {
        let context = try Context()
        let first = try makeSocket(context, .pull)
        let second = try makeSocket(context, .pull)
        defer { second.close(); first.close() }

        #expect(throws: ZMQError.protocolNotSupported) { try first.bind("bogus://nowhere") }
        try first.bind("tcp://127.0.0.1:*")
        let endpoint = try first.lastEndpoint
        #expect(throws: ZMQError.addressInUse) { try second.bind(endpoint) }
        try first.unbind(endpoint)
        #expect(throws: ZMQError.noEntry) { try first.unbind(endpoint) }
    }

    @Test("options round-trip through the raw accessors")
    func optionAccessors() throws {
        let context = try Context()
        let socket = try makeSocket(context, .dealer)
        defer { socket.close() }
        try socket.setSendHighWaterMark(17)
        try socket.setReceiveHighWaterMark(19)
        try socket.setMaxMessageSize(4_096)
        try socket.setTCPKeepalive(idleSeconds: 30, intervalSeconds: 10, probes: 3)
        try socket.setReconnectInterval(milliseconds: 50, max: 500)
        try socket.setImmediate(true)
        #expect(try socket.intOption(ZMQ_SNDHWM) == 17)
        #expect(try socket.intOption(ZMQ_RCVHWM) == 19)
        #expect(try socket.int64Option(ZMQ_MAXMSGSIZE) == 4_096)
        #expect(try socket.intOption(ZMQ_TCP_KEEPALIVE) == 1)
        #expect(try socket.intOption(ZMQ_TCP_KEEPALIVE_IDLE) == 30)
        #expect(try socket.intOption(ZMQ_TCP_KEEPALIVE_INTVL) == 10)
        #expect(try socket.intOption(ZMQ_TCP_KEEPALIVE_CNT) == 3)
        #expect(try socket.intOption(ZMQ_RECONNECT_IVL_MAX) == 500)
        #expect(try socket.intOption(ZMQ_IMMEDIATE) == 1)
        #expect(try socket.intOption(ZMQ_LINGER) == 0)
        #expect(try socket.fileDescriptor >= 0)
    }

    @Test("a closed socket throws notSocket and close is idempotent")
    func closedSocket() throws {
        let context = try Context()
        let socket = try makeSocket(context, .pair)
        socket.close()
        socket.close()
        #expect(socket.isClosed)
        #expect(throws: ZMQError.notSocket) { try socket.send("x") }
        #expect(throws: ZMQError.notSocket) { try socket.bind("inproc://closed") }
    }
}

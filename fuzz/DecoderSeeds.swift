import ParleyWire

/// The decoder's seed corpus: one valid header of every command (several for the ones with variants), made
/// by HeaderEncoder, and a few texts for the name parsers. `FUZZ_WRITE_SEEDS=dir fuzz-decoder` writes them.
enum DecoderSeeds {
    static let id = CallbackID(high: 0x0123_4567_89AB_CDEF, low: 0xFEDC_BA98_7654_3210)
    static let topic = Topic(agent: "planner-1", event: "on_task_complete")!
    static let longName = String(repeating: "n", count: Names.maxAgentLength)

    static let headers: [(String, Header)] = [
        ("hello", .hello(Hello(instance: 7, agentID: "planner-1", layer: "domain", capabilities: ["plan", "summarise.v2", "Search_web"]))),
        ("hello-no-capabilities", .hello(Hello(instance: 0, agentID: "a", layer: "app", capabilities: []))),
        ("hello-longest-names", .hello(Hello(instance: .max, agentID: longName, layer: String(repeating: "l", count: Names.maxLayerLength),
                                               capabilities: (0..<Names.maxCapabilities).map { "cap.\($0)" }))),
        ("welcome", .welcome(Welcome(heartbeatMilliseconds: 1_000, liveness: 3, maxBodyBytes: 1 << 20))),
        ("heartbeat", .heartbeat),
        ("bye", .bye),
        ("request-agent", .request(Request(callbackID: id, kind: .help, timeoutMilliseconds: 5_000, target: .agent("helper"), contentType: "application/json"))),
        ("request-capability", .request(Request(callbackID: id, kind: .clarification, timeoutMilliseconds: 30_000,
                                                target: .capability("summarise.v2"), contentType: ""))),
        ("request-layer", .request(Request(callbackID: .none, kind: .coordinate, timeoutMilliseconds: .max,
                                           target: .layer("infra", capability: nil), contentType: "text/plain"))),
        ("request-layer-capability", .request(Request(callbackID: id, kind: .call, timeoutMilliseconds: 1,
                                                      target: .layer("infra", capability: "store"), contentType: "application/json"))),
        ("deliver", .deliver(Deliver(deliveryID: 0x1122_3344_5566_7788, callbackID: id, kind: .coordinate, attempt: 3,
                                     timeoutMilliseconds: 12_345, requester: "ui-agent", requesterLayer: "presentation",
                                     contentType: "text/plain; charset=utf-8"))),
        ("deliver-long-strings", .deliver(Deliver(deliveryID: 1, callbackID: id, kind: .help, attempt: 1, timeoutMilliseconds: 1,
                                                  requester: String(repeating: "r", count: 255), requesterLayer: "é",
                                                  contentType: String(repeating: "c", count: 255)))),
        ("progress", .progress(ProgressReport(deliveryID: 42, extendMilliseconds: 9_000))),
        ("extended", .extended(Extended(callbackID: id, timeoutMilliseconds: 8_999))),
        ("cancel", .cancel(id)),
        ("revoke", .revoke(deliveryID: 0xFFFF_FFFF_FFFF_FFFE)),
        ("reply-ok", .reply(Reply(deliveryID: 43, status: .ok))),
        ("reply-declined", .reply(Reply(deliveryID: 43, status: .declined))),
        ("reply-failed", .reply(Reply(deliveryID: 0, status: .failed))),
        ("result", .result(ResultHeader(callbackID: id, status: .noRoute, attempts: 0))),
        ("result-cancelled", .result(ResultHeader(callbackID: id, status: .cancelled, attempts: 255))),
        ("error", .error(ErrorNotice(status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: .none))),
        ("status", .status),
        ("status-reply", .statusReply),
        ("admin-evict", .admin(AdminCommand(action: .evict, target: "worker-7"))),
        ("admin-reply", .adminReply(AdminReply(status: .ok, action: .purge))),
        ("publish", .publish(Publish(eventID: id, topic: topic, contentType: "application/json"))),
        ("confirm", .confirm(Confirm(eventID: id, sequence: 17, timestamp: 1_767_225_600_000))),
        ("event", .event(EventHeader(sequence: .max, timestamp: 1, eventID: id, topic: topic, contentType: ""))),
        ("replay-agent", .replay(Replay(selector: .agent("planner-1"), from: 1, to: 0))),
        ("replay-topic", .replay(Replay(selector: .topic(topic), from: 3, to: 9))),
        ("gap", .gap(Gap(topic: topic, from: 3, to: 9))),
        ("replay-end", .replayEnd(ReplayEnd(selector: .topic(topic), events: 4_096, truncated: true))),
        ("replay-end-agent", .replayEnd(ReplayEnd(selector: .agent("a"), events: 0, truncated: false))),
        ("beacon", .beacon(Beacon(topic: topic, latest: 12))),
        ("confirms", .confirms(ConfirmBatch(firstSequence: 9, timestamp: 1_767_225_600_000, eventIDs: [CallbackID(high: 1, low: 2), CallbackID(high: 3, low: 4)]))),
        ("hello-with-features", .hello(Hello(instance: 3, agentID: "pub", layer: "app", capabilities: [], features: .confirmBatches))),
        ("gateway-hello", .gatewayHello(GatewayHello(instance: 0xDEAD_BEEF, gatewayID: "gateway-1", token: "s3cret"))),
        ("gateway-hello-no-token", .gatewayHello(GatewayHello(instance: 1, gatewayID: "gw", token: ""))),
        ("forward", .forward(Forward(request: Request(callbackID: id, kind: .call, timeoutMilliseconds: 30_000,
                                                      target: .layer("infrastructure", capability: "persistence"),
                                                      contentType: "application/json"),
                                     caller: "orders", callerLayer: "domain"))),
        ("forward-agent", .forward(Forward(request: Request(callbackID: id, kind: .help, timeoutMilliseconds: 10,
                                                            target: .agent("db"), contentType: ""),
                                           caller: "ui", callerLayer: "presentation"))),
    ]

    static let texts: [(String, String)] = [
        ("text-target-agent", "agent:helper-1"),
        ("text-target-capability", "cap:summarise.v2"),
        ("text-target-layer", "layer:infra/store"),
        ("text-topic", "callback.planner-1.on_error"),
        ("text-selector-agent", "callback.planner-1."),
        ("text-callback-id", "0123456789abcdefFEDCBA9876543210"),
    ]
}

import ParleyWire

/// The core fuzzer's seed corpus: short scripts for the main paths (request/reply, retries, cancel,
/// timeouts, progress, redelivery, away and back, BYE, overload, events and replay, the gateway, CURVE
/// identities, malformed frames, draining). `FUZZ_WRITE_SEEDS=dir fuzz-core` writes them.
enum CoreSeeds {
    static var all: [(String, ScriptWriter)] {
        [("request-reply-retry-cancel", requestReply), ("timeout-progress", timeoutAndProgress),
         ("redelivery-away-back", redelivery), ("bye-and-reuse", byeAndReuse), ("overload-tight", overload),
         ("events-replay", events), ("gateway-forward", gateway), ("curve-identities", curve),
         ("malformed-frames", malformed), ("drain-shutdown", drainAndShutdown), ("dedupe-window", dedupeWindow),
         ("layers-and-capabilities", layers), ("journal-restart", journalRestart)]
    }

    static var requestReply: ScriptWriter {
        var w = ScriptWriter()
        w.hello(peer: 0, agent: "a0")
        w.hello(peer: 1, agent: "a1", capabilities: 0b001)
        w.request(peer: 0, id: 1, target: .capability("work"))
        w.reply(pick: 0)
        w.request(peer: 0, id: 1, target: .capability("work"))  // retry: the cached outcome
        w.request(peer: 0, id: 1, target: .capability("work"), body: 3)  // same id, other payload
        w.cancel(peer: 0, id: 1)
        w.request(peer: 0, id: 2, target: .agent("a1"))
        w.request(peer: 0, id: 2, target: .agent("a1"))  // retry while pending
        w.cancel(peer: 0, id: 2)
        w.reply(pick: 0, status: 1)  // late
        w.cancel(peer: 0, id: 9)  // unknown
        w.status()
        return w
    }

    static var timeoutAndProgress: ScriptWriter {
        var w = ScriptWriter(first: 0x10)
        w.hello(peer: 0, agent: "a0")
        w.hello(peer: 1, agent: "a1", capabilities: 0b010)
        w.request(peer: 0, id: 3, target: .capability("echo"), timeout: 20)
        w.progress(pick: 0, extendTimes50: 40)
        w.tick(90)
        w.heartbeat(peer: 0)
        w.heartbeat(peer: 1)
        w.progress(pick: 0, extendTimes50: 255)
        w.tick(150)
        w.tick(199)
        w.request(peer: 0, id: 4, target: .agent("a1"), timeout: 0)
        w.tick(1)
        return w
    }

    static var redelivery: ScriptWriter {
        var w = ScriptWriter()
        w.hello(peer: 0, agent: "a0")
        w.hello(peer: 1, agent: "a1", capabilities: 0b001, instance: 1)
        w.hello(peer: 2, agent: "a2", capabilities: 0b001, instance: 2)
        w.request(peer: 0, id: 5, target: .capability("work"))
        w.request(peer: 0, id: 6, target: .agent("a1"))
        w.unreachable(peer: 1)
        w.reply(pick: 0)  // from the agent that went away: late
        w.hello(peer: 3, agent: "a1", capabilities: 0b001, instance: 1)  // the same process on a new connection
        w.reply(pick: 0)
        w.tick(210)  // silence: agents go away
        w.hello(peer: 4, agent: "a2", capabilities: 0b001, instance: 3)
        w.reply(pick: 0)
        return w
    }

    static var byeAndReuse: ScriptWriter {
        var w = ScriptWriter()
        w.hello(peer: 0, agent: "a0")
        w.hello(peer: 1, agent: "a1", capabilities: 0b011)
        w.request(peer: 0, id: 7, target: .agent("a1"))
        w.request(peer: 0, id: 8, target: .capability("echo"))
        w.bye(peer: 1)
        w.hello(peer: 1, agent: "a2", capabilities: 0b011)
        w.hello(peer: 2, agent: "a2", capabilities: 0b001, instance: 2)  // duplicate id, another instance
        w.request(peer: 0, id: 8, target: .capability("echo"))
        w.hello(peer: 0, agent: "a3")  // the requester changes its id on the same connection
        w.reply(pick: 0)
        w.bye(peer: 5)  // unregistered
        w.request(peer: 6, id: 1, target: .agent("a0"))  // unregistered requester
        return w
    }

    static var overload: ScriptWriter {
        var w = ScriptWriter(first: 0x20)
        w.hello(peer: 0, agent: "a0")
        w.hello(peer: 1, agent: "a1", capabilities: 0b001)
        for id in UInt8(0)..<5 { w.request(peer: 0, id: id, target: .capability("work")) }
        w.hello(peer: 2, agent: "a2", capabilities: 0b001)
        for id in UInt8(0)..<3 { w.request(peer: 2, id: id, target: .capability("work")) }
        w.reply(pick: 0)
        w.reply(pick: 1)
        w.tick(255)
        return w
    }

    static var events: ScriptWriter {
        var w = ScriptWriter(first: 0x20)
        w.hello(peer: 0, agent: "a0")
        for event in UInt8(0)..<5 { w.publish(peer: 0, eventID: event, agent: "a0", event: 0) }
        w.publish(peer: 0, eventID: 4, agent: "a0", event: 0)  // resend
        w.publish(peer: 0, eventID: 5, agent: "a0", event: 1)
        w.publish(peer: 0, eventID: 6, agent: "a1", event: 1)  // not its own topic
        w.publish(peer: 0, eventID: 7, agent: "a0", event: 2)  // past maxTopics
        w.replay(peer: 3, agent: "a0", event: 0, from: 0)
        w.replay(peer: 3, agent: "a0", event: 0, from: 2, to: 2)
        w.replay(peer: 3, agent: "a0", event: nil, from: 0)
        w.replay(peer: 3, agent: "a0", event: 0, from: 11)  // beyond the latest
        w.tick(100)
        w.tick(210)
        w.replay(peer: 3, agent: "a0", event: 0, from: 0)
        return w
    }

    static var gateway: ScriptWriter {
        var w = ScriptWriter(second: 0x20)
        w.gatewayHello(peer: 5, token: "tok")
        w.gatewayHello(peer: 6, token: "bad")
        w.hello(peer: 1, agent: "a2", layer: "domain", capabilities: 0b001)
        w.hello(peer: 0, agent: "a0")
        w.forward(peer: 5, id: 1, target: .layer("domain", capability: "work"), caller: "a0", callerLayer: "app")
        w.reply(pick: 0)
        w.forward(peer: 5, id: 2, target: .agent("a2"), caller: "a0", callerLayer: "app")
        w.request(peer: 5, id: 3, target: .agent("a2"))  // a gateway sends FORWARD, not REQUEST
        w.forward(peer: 0, id: 4, target: .agent("a2"), caller: "a0", callerLayer: "app")  // only a gateway forwards
        w.request(peer: 0, id: 5, target: .agent("a2"))  // cross-layer without the gateway
        w.request(peer: 0, id: 6, target: .layer("infra", capability: nil))
        w.unreachable(peer: 5)
        w.tick(255)
        return w
    }

    static var curve: ScriptWriter {
        var w = ScriptWriter(first: 0x42)
        w.hello(peer: 0, agent: "a0", layer: "app", identity: 1)
        w.hello(peer: 1, agent: "a1", layer: "app", capabilities: 0b001, identity: 3)  // a2's key
        w.hello(peer: 1, agent: "a1", layer: "domain", capabilities: 0b001, identity: 2)  // wrong layer
        w.hello(peer: 1, agent: "a1", layer: "app", capabilities: 0b001, identity: 2)
        w.hello(peer: 2, agent: "a2", layer: "domain", identity: 0)  // no identity
        w.gatewayHello(peer: 5, token: "", identity: 5)
        w.gatewayHello(peer: 6, token: "tok", identity: 1)  // an agent's key
        w.request(peer: 0, id: 1, target: .capability("work"))
        w.reply(pick: 0)
        return w
    }

    static var malformed: ScriptWriter {
        var w = ScriptWriter()
        w.hello(peer: 0, agent: "a0")
        w.raw(peer: 0, header: [])
        w.raw(peer: 0, header: [0x50, 0x01])
        w.raw(peer: 0, header: [0x51, 0x01, 0x10])
        w.raw(peer: 0, header: [0x50, 0x02, 0x10])
        w.raw(peer: 0, header: [0x50, 0x01, 0x7F])
        let request = HeaderEncoder.encode(.request(Request(callbackID: Tables.callbackID(1), kind: .help, timeoutMilliseconds: 100,
                                                            target: .agent("a0"), contentType: "")))
        w.raw(peer: 0, header: request)
        w.raw(peer: 0, header: Array(request.dropLast()))  // truncated after the callback id
        w.raw(peer: 0, header: request + [0])  // trailing byte
        w.raw(peer: 0, header: HeaderEncoder.encode(.result(ResultHeader(callbackID: .none, status: .ok, attempts: 1))))
        w.raw(peer: 0, header: HeaderEncoder.encode(.deliver(Deliver(deliveryID: 1, callbackID: .none, kind: .help, attempt: 1,
                                                                     timeoutMilliseconds: 1, requester: "x", requesterLayer: "y",
                                                                     contentType: ""))))
        w.refuseFraming(peer: 0, id: 1, command: 0)  // refusal of a pending request: ERROR, not RESULT
        w.refuseFraming(peer: 0, id: 2, command: 1)
        w.refuseFraming(peer: 0, id: 2, command: 2)
        w.refuseFraming(peer: 4, id: 3, command: 3)
        return w
    }

    static var drainAndShutdown: ScriptWriter {
        var w = ScriptWriter()
        w.hello(peer: 0, agent: "a0")
        w.hello(peer: 1, agent: "a1", capabilities: 0b001)
        w.request(peer: 0, id: 1, target: .capability("work"))
        w.request(peer: 0, id: 2, target: .agent("a3"))
        w.drain()
        w.request(peer: 0, id: 3, target: .capability("work"))
        w.request(peer: 0, id: 1, target: .capability("work"))
        w.shutdown()
        return w
    }

    static var dedupeWindow: ScriptWriter {
        var w = ScriptWriter(second: 0x04)  // capacity 4
        w.hello(peer: 0, agent: "a0")
        w.hello(peer: 1, agent: "a1", capabilities: 0b001)
        for id in UInt8(0)..<4 {
            w.request(peer: 0, id: id, target: .capability("work"))
            w.reply(pick: 0)
        }
        w.request(peer: 0, id: 0, target: .capability("work"))
        w.request(peer: 0, id: 3, target: .capability("work"))
        w.tick(100)
        w.heartbeat(peer: 0)
        w.tick(100)
        w.request(peer: 0, id: 3, target: .capability("work"))
        return w
    }

    static var journalRestart: ScriptWriter {
        var w = ScriptWriter(first: 0x20, second: 0x40)  // tight retention, journaling on
        w.hello(peer: 0, agent: "a0")
        for event in UInt8(0)..<5 { w.publish(peer: 0, eventID: event, agent: "a0", event: 0) }
        w.publish(peer: 0, eventID: 5, agent: "a0", event: 1)
        w.request(peer: 0, id: 1, target: .agent("a0"))
        w.restart()
        w.hello(peer: 0, agent: "a0")
        w.publish(peer: 0, eventID: 4, agent: "a0", event: 0)  // resend of a confirmed event
        w.publish(peer: 0, eventID: 6, agent: "a0", event: 0)  // continues at 6
        w.replay(peer: 3, agent: "a0", event: nil, from: 0)
        w.tick(210)
        w.restart()
        w.replay(peer: 3, agent: "a0", event: 0, from: 0)
        return w
    }

    static var layers: ScriptWriter {
        var w = ScriptWriter()
        w.hello(peer: 0, agent: "a0", layer: "app")
        w.hello(peer: 1, agent: "a1", layer: "domain", capabilities: 0b101)
        w.hello(peer: 2, agent: "a2", layer: "app", capabilities: 0b1100)  // x.y, listed twice
        w.request(peer: 0, id: 1, target: .capability("work"))  // offered only in another layer
        w.request(peer: 0, id: 2, target: .capability("x.y"))
        w.request(peer: 0, id: 3, target: .agent("a1"))
        w.request(peer: 0, id: 4, target: .agent("ghost"))
        w.request(peer: 0, id: 5, target: .capability("none"))
        w.request(peer: 0, id: 6, target: .agent("a0"))  // itself
        w.reply(pick: 0)
        w.hello(peer: 7, agent: "a3", layer: "app", capabilities: 0b111)
        w.request(peer: 7, id: 1, target: .capability("echo"))
        return w
    }
}

/// The protocol version this build speaks. A header with another version is refused with BAD_REQUEST.
public let protocolVersion: UInt8 = 1

/// The first byte of every header: ASCII `P`. Lets a peer reject random bytes at once.
public let protocolSignature: UInt8 = 0x50

/// Command codes, the third byte of every header: 0x0_ sessions, 0x1_ requests, 0x2_ administration,
/// 0x3_ events, 0x4_ the gateway's link to the broker.
public enum CommandCode: UInt8, Sendable, CaseIterable {
    case hello = 0x01, welcome = 0x02, heartbeat = 0x03, bye = 0x04
    case request = 0x10, deliver = 0x11, progress = 0x12, extended = 0x13
    case cancel = 0x14, revoke = 0x15, reply = 0x16, result = 0x17, error = 0x18
    case status = 0x20, statusReply = 0x21, admin = 0x22, adminReply = 0x23
    case publish = 0x30, confirm = 0x31, event = 0x32, replay = 0x33, gap = 0x34, replayEnd = 0x35, beacon = 0x36
    case confirms = 0x37
    case gatewayHello = 0x40, forward = 0x41
}

/// HELLO: an agent registers (agent → broker).
public struct Hello: Hashable, Sendable {
    /// Random per agent process, the same across its reconnects: the same id with the same instance takes over.
    public var instance: UInt64
    public var agentID: String
    public var layer: String
    public var capabilities: [String]
    /// The protocol 1.1 features the agent asks for (``Features``); nil: a 1.0 HELLO,
    /// which ends after the capabilities.
    public var features: Features?
    public init(instance: UInt64, agentID: String, layer: String, capabilities: [String], features: Features? = nil) {
        self.instance = instance; self.agentID = agentID; self.layer = layer; self.capabilities = capabilities
        self.features = features
    }
}

/// WELCOME: the broker accepts a registration and states the session parameters (broker → agent).
public struct Welcome: Hashable, Sendable {
    /// How often both sides send HEARTBEAT when they have nothing else to send.
    public var heartbeatMilliseconds: UInt32
    /// How many heartbeat intervals of silence mean the peer is gone.
    public var liveness: UInt8
    /// The largest body frame the broker accepts.
    public var maxBodyBytes: UInt32
    /// The features of the HELLO's that the broker grants; nil (a 1.0 WELCOME) when the HELLO asked for none.
    public var features: Features?
    public init(heartbeatMilliseconds: UInt32, liveness: UInt8, maxBodyBytes: UInt32, features: Features? = nil) {
        self.heartbeatMilliseconds = heartbeatMilliseconds; self.liveness = liveness; self.maxBodyBytes = maxBodyBytes
        self.features = features
    }
}

/// REQUEST: ask a target for help (requester → broker). The body frame is the payload.
public struct Request: Hashable, Sendable {
    public var callbackID: CallbackID
    public var kind: RequestKind
    /// Time the requester grants, from the moment the broker receives the request.
    public var timeoutMilliseconds: UInt32
    public var target: Target
    /// The payload's media type, e.g. `application/json`; opaque to the broker.
    public var contentType: String
    public init(callbackID: CallbackID, kind: RequestKind, timeoutMilliseconds: UInt32, target: Target, contentType: String) {
        self.callbackID = callbackID; self.kind = kind; self.timeoutMilliseconds = timeoutMilliseconds
        self.target = target; self.contentType = contentType
    }
}

/// DELIVER: a request handed to the agent that serves it (broker → agent). The body frame is the payload.
public struct Deliver: Hashable, Sendable {
    /// The broker's id for this delivery; REPLY and PROGRESS name it.
    public var deliveryID: UInt64
    public var callbackID: CallbackID
    public var kind: RequestKind
    /// 1 for the first delivery, 2 after one redelivery, …
    public var attempt: UInt8
    /// Time left until the deadline.
    public var timeoutMilliseconds: UInt32
    public var requester: String
    public var requesterLayer: String
    public var contentType: String
    public init(deliveryID: UInt64, callbackID: CallbackID, kind: RequestKind, attempt: UInt8, timeoutMilliseconds: UInt32,
                requester: String, requesterLayer: String, contentType: String) {
        self.deliveryID = deliveryID; self.callbackID = callbackID; self.kind = kind; self.attempt = attempt
        self.timeoutMilliseconds = timeoutMilliseconds; self.requester = requester
        self.requesterLayer = requesterLayer; self.contentType = contentType
    }
}

/// PROGRESS: the serving agent is still working and asks for more time (agent → broker). Optional body: a note.
public struct ProgressReport: Hashable, Sendable {
    public var deliveryID: UInt64
    /// The time wanted from now; 0 keeps the deadline.
    public var extendMilliseconds: UInt32
    public init(deliveryID: UInt64, extendMilliseconds: UInt32) {
        self.deliveryID = deliveryID; self.extendMilliseconds = extendMilliseconds
    }
}

/// EXTENDED: the broker tells the requester about progress and the deadline now in force (broker → agent).
public struct Extended: Hashable, Sendable {
    public var callbackID: CallbackID
    /// Time left until the (possibly extended) deadline.
    public var timeoutMilliseconds: UInt32
    public init(callbackID: CallbackID, timeoutMilliseconds: UInt32) {
        self.callbackID = callbackID; self.timeoutMilliseconds = timeoutMilliseconds
    }
}

/// REPLY: the serving agent's answer (agent → broker). The body frame is the answer or the reason.
public struct Reply: Hashable, Sendable {
    public var deliveryID: UInt64
    /// OK, DECLINED or FAILED.
    public var status: Status
    public init(deliveryID: UInt64, status: Status) { self.deliveryID = deliveryID; self.status = status }
}

/// RESULT: the one outcome of a request (broker → requester). The body is the answer, or a UTF-8 reason.
public struct ResultHeader: Hashable, Sendable {
    public var callbackID: CallbackID
    public var status: Status
    /// How many deliveries were made (0 when the request never reached an agent).
    public var attempts: UInt8
    public init(callbackID: CallbackID, status: Status, attempts: UInt8) {
        self.callbackID = callbackID; self.status = status; self.attempts = attempts
    }
}

/// ERROR: the broker refuses a message that is not a request, or that cannot end a request (broker → agent).
/// The body is a UTF-8 explanation.
public struct ErrorNotice: Hashable, Sendable {
    public var status: Status
    /// The command code of the refused message, or 0 when it could not be read.
    public var command: UInt8
    /// The callback id concerned, or `.none`.
    public var callbackID: CallbackID
    public init(status: Status, command: UInt8, callbackID: CallbackID = .none) {
        self.status = status; self.command = command; self.callbackID = callbackID
    }
}

/// What an ADMIN command asks the broker to do.
public enum AdminAction: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Forget an agent's registration now, as if it had said BYE (the target is an agent id).
    case evict = 1
    /// Drop every event a topic retains; its sequence goes on (the target is a topic).
    case purge = 2

    public var description: String {
        switch self {
        case .evict: "evict"
        case .purge: "purge"
        }
    }
}

/// ADMIN: an administrator's action on the broker (any peer → broker; only admin identities are obeyed).
public struct AdminCommand: Hashable, Sendable {
    public var action: AdminAction
    /// The agent id (evict) or topic (purge); checked against the naming rules by the broker, not the decoder.
    public var target: String
    public init(action: AdminAction, target: String) { self.action = action; self.target = target }
}

/// ADMIN_REPLY: how an ADMIN ended (broker → peer). The body is a UTF-8 account of what was done, or why not.
public struct AdminReply: Hashable, Sendable {
    /// OK, UNAUTHORIZED (not an admin identity), NO_ROUTE (no such agent or topic) or BAD_REQUEST (a bad target).
    public var status: Status
    public var action: AdminAction
    public init(status: Status, action: AdminAction) { self.status = status; self.action = action }
}

/// A decoded header: one case per command.
public enum Header: Hashable, Sendable {
    case hello(Hello)
    case welcome(Welcome)
    case heartbeat
    case bye
    case request(Request)
    case deliver(Deliver)
    case progress(ProgressReport)
    case extended(Extended)
    /// The requester withdraws the request with this callback id.
    case cancel(CallbackID)
    /// The broker tells the serving agent to stop work on this delivery; a later REPLY is dropped.
    case revoke(deliveryID: UInt64)
    case reply(Reply)
    case result(ResultHeader)
    case error(ErrorNotice)
    /// Any peer asks for the broker's state; no registration needed.
    case status
    /// The broker's state as a JSON document in the body.
    case statusReply
    case admin(AdminCommand)
    case adminReply(AdminReply)
    case publish(Publish)
    case confirm(Confirm)
    /// Protocol 1.1: several of one publisher's events on one topic confirmed at once.
    case confirms(ConfirmBatch)
    case event(EventHeader)
    case replay(Replay)
    case gap(Gap)
    case replayEnd(ReplayEnd)
    case beacon(Beacon)
    case gatewayHello(GatewayHello)
    case forward(Forward)

    /// The command code of this header.
    public var code: CommandCode {
        switch self {
        case .hello: .hello
        case .welcome: .welcome
        case .heartbeat: .heartbeat
        case .bye: .bye
        case .request: .request
        case .deliver: .deliver
        case .progress: .progress
        case .extended: .extended
        case .cancel: .cancel
        case .revoke: .revoke
        case .reply: .reply
        case .result: .result
        case .error: .error
        case .status: .status
        case .statusReply: .statusReply
        case .admin: .admin
        case .adminReply: .adminReply
        case .publish: .publish
        case .confirm: .confirm
        case .confirms: .confirms
        case .event: .event
        case .replay: .replay
        case .gap: .gap
        case .replayEnd: .replayEnd
        case .beacon: .beacon
        case .gatewayHello: .gatewayHello
        case .forward: .forward
        }
    }
}

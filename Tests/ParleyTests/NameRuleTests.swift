import Foundation
import Parley
import ParleyWire
import Testing

extension BrokerIntegration {
    /// Every name rule of PROTOCOL.md §3, byte by byte, in every field that carries a name (issue 12: a probe found
    /// HELLOs with malformed agent ids and capabilities accepted). For each kind of name, every byte value the rule does
    /// not allow is put inside an otherwise valid name, and the empty name and one byte over the longest are added;
    /// each message must be refused with BAD_REQUEST, and the longest valid names must pass.
    @Suite("Name rules")
    struct NameRuleTests {
        /// One kind of name: its allowed bytes and longest length.
        struct Rule: Sendable {
            let name: String
            let allowed: Set<UInt8>
            let maxLength: Int

            /// Names breaking the rule: every byte not allowed between two valid ones, nothing, one byte too many.
            var broken: [(what: String, bytes: [UInt8])] {
                let bad = (0...255).map(UInt8.init).filter { !allowed.contains($0) }
                return bad.map { ("\(name) with byte 0x\(String($0, radix: 16))", Array("ab".utf8) + [$0] + Array("cd".utf8)) }
                    + [("empty \(name)", []), ("\(name) of \(maxLength + 1) bytes", [UInt8](repeating: 0x61, count: maxLength + 1))]
            }

            /// The longest valid name, using every allowed byte at least once where it fits.
            var longest: [UInt8] {
                let pool = allowed.sorted()
                return (0..<maxLength).map { pool[$0 % pool.count] }
            }
        }

        static let letters = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-".utf8))
        static let agentID = Rule(name: "agent id", allowed: letters, maxLength: 64)
        static let layer = Rule(name: "layer", allowed: Set(Array("abcdefghijklmnopqrstuvwxyz0123456789_-".utf8)), maxLength: 32)
        static let capability = Rule(name: "capability", allowed: letters.union([UInt8(ascii: ".")]), maxLength: 64)
        static let eventName = Rule(name: "event name", allowed: letters, maxLength: 64)

        /// One message and whether the broker must refuse it.
        struct Probe {
            let what: String
            let frames: [[UInt8]]
            let command: UInt8
            let mustRefuse: Bool
        }

        /// The fields that carry a name, each as a message around it (from the registered agent `mallory`). A HELLO comes
        /// after the requests naming the same kind of name, so that a valid one registers nothing they could wait for.
        static func probes(_ rule: Rule, _ name: [UInt8], mustRefuse: Bool, what: String) -> [Probe] {
            let u8 = { (text: String) in Array(text.utf8) }
            var probes: [Probe] = []
            func add(_ field: String, _ frames: [[UInt8]], _ command: UInt8) {
                probes.append(Probe(what: "\(field): \(what)", frames: frames, command: command, mustRefuse: mustRefuse))
            }
            switch rule.name {
            case agentID.name:
                add("REQUEST agent: target", [Frames.request(target: u8("agent:") + name)], 0x10)
                add("PUBLISH topic's agent", [Frames.publish(topic: u8("callback.") + name + u8(".on_x"), contentType: [])], 0x30)
                add("REPLAY agent selector", [Frames.replay(selector: u8("callback.") + name + u8("."))], 0x33)
                add("GATEWAY_HELLO gateway id", [Frames.gatewayHello(id: name, token: u8("wrong-token"))], 0x40)
                add("HELLO agent id", [Frames.hello(id: name, layer: u8("domain"))], 0x01)
            case layer.name:
                add("HELLO layer", [Frames.hello(id: u8("probe"), layer: name)], 0x01)
            case capability.name:
                add("REQUEST cap: target", [Frames.request(target: u8("cap:") + name)], 0x10)
                add("HELLO capability", [Frames.hello(id: u8("probe"), layer: u8("domain"), capabilities: [name])], 0x01)
            default:
                // "callback.mallory." with an empty event name is the agent selector, not a malformed topic.
                if !name.isEmpty { add("REPLAY topic's event name", [Frames.replay(selector: u8("callback.mallory.") + name)], 0x33) }
                add("PUBLISH event name", [Frames.publish(topic: u8("callback.mallory.") + name, contentType: [])], 0x30)
            }
            return probes
        }

        @Test("every byte a name rule does not allow, the empty name and one byte too many are refused in every field that carries a name; the longest valid names pass")
        func everyNameRuleIsEnforced() async throws {
            // Heartbeats of 200 ms: the start-up grace (liveness × interval, in which a request to an unknown agent waits
            // instead of getting NO_ROUTE) is over long before the valid names are sent; the probes keep mallory alive.
            let broker = try await BrokerProcess()
            defer { broker.stop() }
            let mallory = try RawAgent(endpoint: broker.endpoint)
            defer { mallory.close() }
            #expect(try await mallory.register(id: "mallory", layer: "domain")?.code == .welcome)
            let rules = [Self.agentID, Self.layer, Self.capability, Self.eventName]
            let refused = rules.flatMap { rule in rule.broken.flatMap { Self.probes(rule, $0.bytes, mustRefuse: true, what: $0.what) } }
            let valid = rules.flatMap { Self.probes($0, $0.longest, mustRefuse: false, what: "the longest valid \($0.name)") }
            var refusals = 0
            for probe in refused + valid {
                try await mallory.send(probe.frames)
                let answer = try #require(try await mallory.next(timeout: .seconds(5)), "no answer to \(probe.what)")
                let badRequest = switch answer.header {
                case .error(let notice): notice.status == .badRequest && notice.command == probe.command
                case .result(let result): result.status == .badRequest && probe.command == 0x10
                default: false
                }
                let text = String(decoding: answer.body.prefix(200), as: UTF8.self)
                #expect(badRequest == probe.mustRefuse, "\(probe.what): got \(answer.header) '\(text)'")
                if badRequest { refusals += 1 }
                // A valid HELLO of another agent on mallory's connection moves the connection to it: take it back.
                if !probe.mustRefuse, probe.command == 0x01 {
                    #expect(try await mallory.register(id: "mallory", layer: "domain")?.code == .welcome)
                }
            }
            #expect(refused.count >= 1_405, "\(refused.count) malformed names")
            let status = try await BrokerStatus.fetch(endpoint: broker.endpoint)
            #expect(status.malformed == UInt64(refusals))
            let validIDs: Set<String> = ["mallory", "probe", String(decoding: Self.agentID.longest, as: UTF8.self)]
            #expect(status.agents.allSatisfy { validIDs.contains($0.id) }, "no malformed name registered anything: \(status.agents.map(\.id))")
            print("name rules: \(refusals) malformed names refused, \(valid.count) longest valid names accepted")
        }
    }
}

import ParleyWire
import Testing

@Suite("Callback ids, targets, names and statuses")
struct WireValueTests {
    @Test("a callback id prints as 32 lower-case hex digits and parses back",
          arguments: [CallbackID.none, CallbackID(high: 0, low: 1), CallbackID(high: .max, low: .max),
                      CallbackID(high: 0x00AB_0000_0000_0001, low: 0xF), Samples.callbackID])
    func callbackIDHexRoundTrip(_ id: CallbackID) {
        let text = id.description
        #expect(text.utf8.count == 32)
        #expect(text.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(CallbackID(hex: text) == id)
    }

    @Test("known callback ids print exactly")
    func callbackIDKnownText() {
        #expect(CallbackID.none.description == String(repeating: "0", count: 32))
        #expect(Samples.callbackID.description == "0123456789abcdeffedcba9876543210")
        #expect(CallbackID(high: 1, low: 0x10).description == "00000000000000010000000000000010")
    }

    @Test("random callback ids round trip through hex and differ from each other")
    func randomCallbackIDs() {
        let ids = (0..<1_000).map { _ in CallbackID.random() }
        #expect(Set(ids).count == ids.count)
        for id in ids { #expect(CallbackID(hex: id.description) == id) }
    }

    @Test("upper-case hex is accepted when parsing")
    func upperCaseHex() {
        #expect(CallbackID(hex: "0123456789ABCDEFFEDCBA9876543210") == Samples.callbackID)
    }

    @Test("texts that are not 32 hex digits are not callback ids",
          arguments: ["", "0", String(repeating: "0", count: 31), String(repeating: "0", count: 33),
                      "0123456789abcdeffedcba987654321g", "0123456789abcdef fedcba987654321", "éééééééé0000000000000000"])
    func badCallbackIDText(_ text: String) {
        #expect(CallbackID(hex: text) == nil)
    }

    @Test("a sign character is not a hex digit",
          arguments: ["+000000000000001" + String(repeating: "0", count: 16),
                      String(repeating: "0", count: 16) + "+000000000000001",
                      "-000000000000000" + String(repeating: "0", count: 16)])
    func signedCallbackIDText(_ text: String) {
        #expect(CallbackID(hex: text) == nil)
    }

    @Test("targets of all three schemes print and parse back",
          arguments: [(Target.agent("planner-1"), "agent:planner-1"), (.capability("summarise.v2"), "cap:summarise.v2"),
                      (.layer("domain", capability: nil), "layer:domain"), (.layer("infra", capability: "db.read"), "layer:infra/db.read")])
    func targetRoundTrip(_ target: Target, _ text: String) {
        #expect(target.description == text)
        #expect(Target(text) == target)
    }

    @Test("targets with unknown schemes or bad names do not parse",
          arguments: ["foo:x", "agent:", "cap:a b", "cap:", "layer:", "layer:Domain", "layer:a/", "layer:a/b c", "layer:a/b/c",
                      "agent:a.b", "agent:a:b", "agentx", "", "cap:" + String(repeating: "c", count: 65)])
    func badTargets(_ text: String) {
        #expect(Target(text) == nil)
    }

    @Test("agent ids: 1–64 of A–Z a–z 0–9 _ -")
    func agentNames() {
        #expect(Names.agentProblem("Planner_1-b") == nil)
        #expect(Names.agentProblem(String(repeating: "a", count: 64)) == nil)
        #expect(Names.agentProblem(String(repeating: "a", count: 65)) == "agent id is longer than 64 bytes")
        #expect(Names.agentProblem("") == "agent id is empty")
        #expect(Names.agentProblem("a.b")?.contains("'.'") == true)
    }

    @Test("layers: 1–32 of a–z 0–9 _ -, no upper case")
    func layerNames() {
        #expect(Names.layerProblem("application") == nil)
        #expect(Names.layerProblem(String(repeating: "l", count: 32)) == nil)
        #expect(Names.layerProblem(String(repeating: "l", count: 33)) != nil)
        #expect(Names.layerProblem("Domain")?.contains("'D'") == true)
    }

    @Test("capabilities: 1–64 of A–Z a–z 0–9 _ - .")
    func capabilityNames() {
        #expect(Names.capabilityProblem("Db.read_v2-x") == nil)
        #expect(Names.capabilityProblem(String(repeating: "c", count: 64)) == nil)
        #expect(Names.capabilityProblem(String(repeating: "c", count: 65)) != nil)
        #expect(Names.capabilityProblem("a/b") != nil)
    }

    @Test("only OK, DECLINED and FAILED are handler statuses")
    func handlerStatuses() {
        #expect(Status.allCases.filter(\.isHandlerStatus) == [.ok, .declined, .failed])
    }

    @Test("statuses print their protocol names")
    func statusNames() {
        #expect(Status.allCases.map(\.description) == ["OK", "DECLINED", "FAILED", "TIMEOUT", "NO_ROUTE", "UNAUTHORIZED",
                                                       "OVERLOADED", "BAD_REQUEST", "UNAVAILABLE", "CANCELLED"])
        #expect(Status.allCases.map(\.rawValue) == Array(0...9))
        #expect(RequestKind.allCases.map(\.description) == ["help", "clarification", "coordinate", "call"])
    }
}

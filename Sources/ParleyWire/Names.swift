/// The naming rules for agent ids, layers and capabilities (see docs/PROTOCOL.md, "Names").
///
/// Agent ids never contain `.`, so that event topics `callback.<agent>.<event>` stay unambiguous.
public enum Names {
    /// Longest agent id, in bytes.
    public static let maxAgentLength = 64
    /// Longest layer name, in bytes.
    public static let maxLayerLength = 32
    /// Longest capability name, in bytes.
    public static let maxCapabilityLength = 64
    /// Most capabilities one agent may offer.
    public static let maxCapabilities = 32

    /// Why `id` is not a valid agent id, or nil when it is: 1–64 of `A–Z a–z 0–9 _ -`.
    public static func agentProblem(_ id: String) -> String? {
        check(id, what: "agent id", max: maxAgentLength, allowDot: false, lowerOnly: false)
    }

    /// Longest event name, in bytes.
    public static let maxEventLength = 64

    /// Why `name` is not a valid event name, or nil: 1–64 of `A–Z a–z 0–9 _ -` (no `.`).
    public static func eventProblem(_ name: String) -> String? {
        check(name, what: "event name", max: maxEventLength, allowDot: false, lowerOnly: false)
    }

    /// Why `name` is not a valid layer name, or nil: 1–32 of `a–z 0–9 _ -`.
    public static func layerProblem(_ name: String) -> String? {
        check(name, what: "layer", max: maxLayerLength, allowDot: false, lowerOnly: true)
    }

    /// Why `name` is not a valid capability name, or nil: 1–64 of `A–Z a–z 0–9 _ - .`.
    public static func capabilityProblem(_ name: String) -> String? {
        check(name, what: "capability", max: maxCapabilityLength, allowDot: true, lowerOnly: false)
    }

    /// The same rules over raw bytes (a header field not yet made a String): agent id, layer, capability.
    static func agentProblem(bytes: UnsafeRawBufferPointer) -> String? {
        check(bytes, what: "agent id", max: maxAgentLength, allowDot: false, lowerOnly: false)
    }
    static func layerProblem(bytes: UnsafeRawBufferPointer) -> String? {
        check(bytes, what: "layer", max: maxLayerLength, allowDot: false, lowerOnly: true)
    }
    static func eventProblem(bytes: UnsafeRawBufferPointer) -> String? {
        check(bytes, what: "event name", max: maxEventLength, allowDot: false, lowerOnly: false)
    }
    static func capabilityProblem(bytes: UnsafeRawBufferPointer) -> String? {
        check(bytes, what: "capability", max: maxCapabilityLength, allowDot: true, lowerOnly: false)
    }

    private static func check(_ text: String, what: String, max: Int, allowDot: Bool, lowerOnly: Bool) -> String? {
        check(text.utf8, what: what, max: max, allowDot: allowDot, lowerOnly: lowerOnly)
    }

    private static func check<Bytes: Collection<UInt8>>(_ bytes: Bytes, what: String, max: Int, allowDot: Bool,
                                                        lowerOnly: Bool) -> String? {
        if bytes.isEmpty { return "\(what) is empty" }
        if bytes.count > max { return "\(what) is longer than \(max) bytes" }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            case UInt8(ascii: "A")...UInt8(ascii: "Z") where !lowerOnly:
                continue
            case UInt8(ascii: ".") where allowDot:
                continue
            default:
                return "\(what) '\(String(decoding: bytes, as: UTF8.self))' contains '\(Unicode.Scalar(byte))'; allowed: "
                    + (lowerOnly ? "a-z" : "A-Z a-z") + " 0-9 _ -" + (allowDot ? " ." : "")
            }
        }
        return nil
    }
}

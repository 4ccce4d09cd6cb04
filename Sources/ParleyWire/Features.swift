/// Protocol 1.1 features, asked for in HELLO and granted in WELCOME (a byte of flags after the 1.0 fields). A 1.0
/// peer sends and gets neither byte and sees the protocol exactly as 1.0 defines it.
public struct Features: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The broker may confirm several events at once with CONFIRMS instead of one CONFIRM each.
    public static let confirmBatches = Features(rawValue: 0x01)

    /// Every feature this build knows; a broker grants the ones asked for among them and ignores other bits.
    public static let known: Features = [.confirmBatches]
}

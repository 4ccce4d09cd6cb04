/// The rule that keeps the metrics endpoint (and its console and API, which have no authentication) on loopback
/// unless the operator says otherwise.
public enum MetricsExposure {
    /// The setting that allows a non-loopback `metrics-address`.
    public static let setting = Setting("metrics-public", .boolean, default: "false",
                                        help: "Allow metrics-address to be other than loopback. The endpoint, its console and "
                                            + "its API have no authentication: put them behind an authenticating proxy or a private network.")

    /// Refuses a non-loopback `metrics-address` while the metrics endpoint is on and `metrics-public` is not true.
    public static func check(_ configuration: EffectiveConfiguration) throws(ConfigurationProblem) {
        let address = configuration.string("metrics-address")
        let port: Int = configuration.integer("metrics-port")
        guard port > 0, !isLoopback(address), !configuration.boolean("metrics-public") else { return }
        throw configuration.problem("metrics-address", "\(address) is not a loopback address: the metrics endpoint, console and API "
                                    + "have no authentication; set metrics-public: true to expose them anyway (deploy/OPERATIONS.md)")
    }

    /// 127.0.0.0/8 or ::1.
    static func isLoopback(_ address: String) -> Bool {
        address.hasPrefix("127.") || address == "::1" || address == "0:0:0:0:0:0:0:1"
    }
}

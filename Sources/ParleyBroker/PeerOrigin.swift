#if canImport(Glibc)
import Glibc
#endif
import ZeroMQ

/// Where a message came from, from libzmq's metadata on its header frame: the authenticated identity and the
/// connection's source address. A peer can put any property in its ZMTP handshake, so `User-Id` is believed only
/// with CURVE (where the broker's ZAP handler sets it), and a missing `Peer-Address` never counts as local.
struct PeerOrigin {
    /// The CURVE identity (`User-Id` set by the ZAP handler); nil without CURVE, whatever the peer claims.
    let identity: String?
    /// libzmq's `Peer-Address`: the IP for tcp, `localhost:UID:GID:PID` for ipc; empty when unknown.
    let address: String

    init(_ frame: Message, authenticated: Bool) {
        identity = authenticated ? frame.property("User-Id") : nil
        address = frame.property("Peer-Address") ?? ""
    }

    /// The user id of an ipc connection's process (from `SO_PEERCRED`), nil for tcp.
    var ipcUser: UInt32? {
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "localhost" else { return nil }
        return UInt32(parts[1])
    }

    /// The key of the per-address rates, which apply without CURVE only: the IP for tcp, the user for ipc (not its
    /// process, so more processes of one user do not get more); nil with CURVE or when the address is unknown.
    var rateAddress: Asker? {
        guard identity == nil, !address.isEmpty else { return nil }
        return .address(ipcUser.map { "ipc user \($0)" } ?? address)
    }

    /// Whether the connection comes from this host: tcp from 127.0.0.0/8, or ipc from a process of the broker's own
    /// user (or root). An unknown address is not local.
    var isLocal: Bool {
        if let user = ipcUser { return user == getuid() || user == 0 }
        return address.hasPrefix("127.") || address.hasPrefix("::ffff:127.")
    }
}

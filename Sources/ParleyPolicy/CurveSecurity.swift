import Foundation
import ParleyWire
import ZeroMQ

/// CURVE on a server socket: the server's key pair, and the key ring that says who may connect.
/// Connections whose public key is not in the ring are refused during the handshake (ZAP).
public struct CurveServerSecurity: Sendable {
    public let publicKey: String
    public let secretKey: String
    public let keyRing: KeyRing

    /// Security with `secretKey` (Z85; the public key is derived from it) admitting the keys in `keyRing`.
    public init(secretKey: String, keyRing: KeyRing) throws {
        self.secretKey = secretKey
        self.publicKey = try Curve.publicKey(fromSecret: secretKey)
        self.keyRing = keyRing
    }

    /// Reads the secret key file (as written by `parley keygen --out`) and the keys file.
    public static func load(secretKeyFile: String, keysFile: String) throws -> CurveServerSecurity {
        let keyRing = try KeyRing.load(path: keysFile)
        return try CurveServerSecurity(secretKey: try readKey(secretKeyFile), keyRing: keyRing)
    }

    /// Starts the ZAP handler for `context`; call before binding any server socket. The authenticated
    /// user id of a connection is the id its key has in the ring.
    public func startAuthenticator(_ context: Context) throws -> ZAPHandler {
        let keyRing = keyRing
        return try ZAPHandler(context: context) { request in
            guard request.mechanism == "CURVE", let key = request.curvePublicKey, let entry = keyRing.entry(forPublicKey: key) else {
                return .deny(reason: "unknown key")
            }
            return .allow(userID: entry.id)
        }
    }

    /// Makes `socket` a CURVE server authenticated by the ZAP handler.
    public func apply(to socket: Socket) throws {
        try socket.setCurveServer(true)
        try socket.setCurveKeys(publicKey: publicKey, secretKey: secretKey)
        try socket.setZAPDomain("parley")
    }
}

/// CURVE on a client socket: its own key pair and the server's public key.
public struct CurveClientSecurity: Sendable {
    public let publicKey: String
    public let secretKey: String
    public let serverKey: String

    /// Security with `secretKey` (Z85; the public key is derived from it) for a server whose public key is `serverKey`.
    public init(secretKey: String, serverKey: String) throws {
        self.secretKey = secretKey
        self.publicKey = try Curve.publicKey(fromSecret: secretKey)
        self.serverKey = serverKey
    }

    /// Makes `socket` a CURVE client of that server.
    public func apply(to socket: Socket) throws {
        try socket.setCurveKeys(publicKey: publicKey, secretKey: secretKey)
        try socket.setCurveServerKey(serverKey)
    }
}

/// The first line of a key file, trimmed: a 40-character Z85 key.
public func readKey(_ path: String) throws -> String {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw ConfigurationError(file: path, line: 0, problem: "cannot read the key file")
    }
    let key = text.split(whereSeparator: \.isNewline).first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
    guard key.count == 40, Z85.decode(key)?.count == 32 else {
        throw ConfigurationError(file: path, line: 1, problem: "not a 40-character Z85 CURVE key")
    }
    return key
}

import CZeroMQ

/// CURVE (CurveZMQ) key utilities. Stateless functions: thread-safe.
///
/// Keys are 32-byte Curve25519 keys encoded as 40-character Z85 strings.
public enum Curve {
    /// Whether the linked libzmq was built with CURVE support (`zmq_has("curve")`).
    public static var isAvailable: Bool {
        zmq_has("curve") != 0
    }

    /// Generates a new long-term key pair (`zmq_curve_keypair`), each key 40 Z85 characters.
    ///
    /// - Throws: ``ZMQError/notSupported`` when libzmq lacks CURVE support.
    public static func generateKeyPair() throws -> (publicKey: String, secretKey: String) {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        if zmq_curve_keypair(&publicKey, &secretKey) != 0 { throw ZMQError.last }
        return (string(from: publicKey), string(from: secretKey))
    }

    /// Derives the public key from a 40-character Z85 secret key (`zmq_curve_public`).
    ///
    /// - Throws: ``ZMQError/invalidArgument`` when `secretKey` is not 40 Z85 characters;
    ///   ``ZMQError/notSupported`` when libzmq lacks CURVE support.
    public static func publicKey(fromSecret secretKey: String) throws -> String {
        guard secretKey.utf8.count == 40, secretKey.utf8.allSatisfy({ $0 > 32 && $0 < 127 }) else {
            throw ZMQError.invalidArgument
        }
        var publicKey = [CChar](repeating: 0, count: 41)
        if zmq_curve_public(&publicKey, secretKey) != 0 { throw ZMQError.last }
        return string(from: publicKey)
    }

    private static func string(from buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

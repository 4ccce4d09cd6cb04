import Foundation

/// JSON is the SDK's default payload encoding (content type `application/json`).
enum JSONPayload {
    static let contentType = "application/json"

    static func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        do { return Array(try JSONEncoder().encode(value)) } catch { throw ParleyError.payload("cannot encode \(Value.self): \(error)") }
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        do { return try JSONDecoder().decode(type, from: Data(bytes)) } catch {
            throw ParleyError.payload("cannot decode \(Value.self) from \(bytes.count) bytes: \(error)")
        }
    }
}

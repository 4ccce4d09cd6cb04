import Foundation
import Testing

/// The broker core is a pure module: it may import ParleyWire and swift-collections' HeapModule (a value type
/// with no I/O, clock or random source) and nothing else (no libzmq, no Foundation, no Glibc), so that it stays a
/// sans-I/O state machine that tests and the fuzzer drive directly. Package.swift gives it no other dependency, but
/// system modules (Foundation, Glibc, Dispatch) are importable without one: this test reads every source file.
@Suite("The broker core imports nothing but ParleyWire and HeapModule")
struct BrokerCoreImportsTests {
    @Test("every file of Sources/ParleyBrokerCore imports ParleyWire and HeapModule at most")
    func onlyParleyWire() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sources = root.appendingPathComponent("Sources/ParleyBrokerCore")
        let files = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { $0.hasSuffix(".swift") }
        #expect(files.count >= 20, "found only \(files.count) files in \(sources.path)")
        for file in files {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for line in text.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard let index = words.firstIndex(of: "import"),
                      words[..<index].allSatisfy({ $0.hasPrefix("@") || $0 == "public" || $0 == "internal" })
                else { continue }
                let module = words.last.map(String.init) ?? ""
                #expect(module == "ParleyWire" || module.hasPrefix("ParleyWire.") || module == "HeapModule", "\(file) imports \(module)")
            }
        }
    }
}

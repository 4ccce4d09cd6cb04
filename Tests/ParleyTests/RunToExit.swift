import Foundation
import Subprocess
import ParleyChildProcess
import SystemPackage

/// Runs a built executable to completion and returns its exit status, its stdout (with `standardError`, stdout and
/// stderr together) and its stderr (empty with `standardError`). Killed, and a test failure, after `timeout`.
func runToExit(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(60),
               standardError: Bool = false, environment: [String: String] = [:]) async throws -> (status: Int32, output: String, errors: String) {
    try await runTool(.path(FilePath(TestProcess.buildDirectory.appendingPathComponent(executable).path)), arguments,
                      timeout: timeout, standardError: standardError, environment: environment)
}

/// Runs `executable` (a path, or a name looked up in PATH) to completion, as ``runToExit`` does.
func runTool(_ executable: Executable, _ arguments: [String], timeout: Duration = .seconds(60), standardError: Bool = false,
             environment: [String: String] = [:]) async throws -> (status: Int32, output: String, errors: String) {
    let environment = Environment.inherit.updating(environment.reduce(into: [:]) { $0[.init(stringLiteral: $1.key)] = $1.value })
    let limit = 16 << 20
    return try await withThrowingTaskGroup { group in
        group.addTask {
            if standardError {
                let result = try await run(executable, arguments: Arguments(arguments), environment: environment,
                                           output: .string(limit: limit), error: .combinedWithOutput)
                return (result.terminationStatus.code, result.standardOutput, "")
            }
            let result = try await run(executable, arguments: Arguments(arguments), environment: environment,
                                       output: .string(limit: limit), error: .string(limit: limit))
            return (result.terminationStatus.code, result.standardOutput, result.standardError)
        }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TestFailure("\(executable) \(arguments.joined(separator: " ")) did not exit within \(timeout)")
        }
        defer { group.cancelAll() }  // the loser: the sleep, or the child (swift-subprocess kills it when cancelled)
        return try await group.next()!
    }
}

import Foundation
import ServiceLifecycle

/// A blocking loop (a reactor, the metrics server) run as a swift-service-lifecycle `Service` on a thread of its
/// own, never on Swift's cooperative pool.
///
/// Graceful shutdown (SIGTERM/SIGINT through the `ServiceGroup`) or cancellation calls `stop`, which must make
/// `work` return; the service ends when `work` does, with its error if it threw.
public struct ThreadService: Service, CustomStringConvertible {
    /// Names the thread and the service in logs.
    public let name: String
    private let work: @Sendable () throws -> Void
    private let stop: @Sendable () -> Void

    public init(name: String, work: @escaping @Sendable () throws -> Void, stop: @escaping @Sendable () -> Void) {
        self.name = name
        self.work = work
        self.stop = stop
    }

    public var description: String { name }

    public func run() async throws {
        let work = self.work
        let name = self.name
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let thread = Thread { continuation.resume(with: Result { try work() }) }
                thread.name = name
                thread.start()
            }
        } onCancelOrGracefulShutdown: {
            stop()
        }
    }
}

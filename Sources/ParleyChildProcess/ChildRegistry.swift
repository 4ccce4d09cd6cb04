#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The process ids of the children that run, readable from a signal handler (a fixed C array, no Swift
/// allocation), so that a harness interrupted or giving up can end them all by process id.
public enum ChildRegistry {
    private static let capacity = 256
    nonisolated(unsafe) private static let pids: UnsafeMutablePointer<Int32> = {
        let pointer = UnsafeMutablePointer<Int32>.allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
        return pointer
    }()
    private static let next = Atomic<Int>(0)

    /// Remembers a child that started (past 256 at once, the oldest is forgotten).
    static func add(_ pid: Int32) {
        pids[next.add(1, ordering: .relaxed).oldValue % capacity] = pid
    }

    /// Forgets a child that exited.
    static func remove(_ pid: Int32) {
        for index in 0..<capacity where pids[index] == pid { pids[index] = 0 }
    }

    /// SIGCONT and SIGKILL to every child that runs.
    public static func killAll() {
        for index in 0..<capacity where pids[index] > 0 {
            kill(pids[index], SIGCONT)
            kill(pids[index], SIGKILL)
        }
    }

    /// On SIGINT, SIGTERM or SIGHUP: SIGTERM every child, then exit 130.
    public static func endChildrenOnSignals() {
        _ = pids  // allocate before any signal can arrive
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { _ in
                for index in 0..<ChildRegistry.capacity where ChildRegistry.pids[index] > 0 {
                    kill(ChildRegistry.pids[index], SIGTERM)
                }
                _exit(130)
            }
        }
    }
}

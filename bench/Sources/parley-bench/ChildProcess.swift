#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A child process started with `posix_spawn`, its stdout on a pipe the parent reads line by line.
/// Standard error is inherited, so a child's complaints reach the terminal.
///
/// Every live child is also listed in `ChildRegistry`, so that SIGINT/SIGTERM to the harness ends them too.
/// Not thread-safe: the harness drives its children from one thread.
final class ChildProcess {
    let name: String
    let pid: pid_t
    private let output: Int32
    private var buffer: [UInt8] = []
    private var reaped = false
    private(set) var exitDescription = "running"

    /// Starts `path` with `arguments` (argv[0] is `path`).
    init(name: String, path: String, arguments: [String]) throws {
        self.name = name
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else { throw BenchError("pipe failed: errno \(errno)") }
        // Close-on-exec on both ends: no other child may inherit them (the spawn sets up the write end as stdout).
        for descriptor in descriptors { _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // dup2 clears close-on-exec on the child's stdout; every other descriptor of ours closes at exec.
        posix_spawn_file_actions_adddup2(&actions, descriptors[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, path, &actions, nil, argv, environ)
        close(descriptors[1])
        guard status == 0 else {
            close(descriptors[0])
            throw BenchError("cannot start \(path): \(String(cString: strerror(status)))")
        }
        pid = child
        output = descriptors[0]
        ChildRegistry.add(child)
    }

    deinit {
        terminate()
        close(output)
    }

    /// The next line of the child's stdout, waiting at most `timeout` seconds; nil on timeout.
    /// Throws when the child closed its stdout (it exited) before a full line.
    func readLine(timeout: Double) throws -> String? {
        let deadline = monotonicNanoseconds() + nanoseconds(seconds: timeout)
        while true {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                return line
            }
            let now = monotonicNanoseconds()
            guard now < deadline else { return nil }
            var item = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
            let ready = poll(&item, 1, Int32(min((deadline - now) / 1_000_000 + 1, 1_000)))
            if ready < 0 && errno != EINTR { throw BenchError("poll on \(name)'s stdout failed: errno \(errno)") }
            guard ready > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4_096)
            let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw BenchError("reading \(name)'s stdout failed: errno \(errno)")
            }
            if count == 0 {
                reap(blocking: true)
                throw BenchError("\(name) exited (\(exitDescription)) before printing what was expected")
            }
            buffer.append(contentsOf: chunk[..<count])
        }
    }

    /// Reads lines until one satisfies `accept`, or throws after `timeout` seconds.
    func waitForLine(timeout: Double, what: String, _ accept: (String) -> Bool) throws -> String {
        let deadline = monotonicNanoseconds() + nanoseconds(seconds: timeout)
        while true {
            let now = monotonicNanoseconds()
            guard now < deadline, let line = try readLine(timeout: Double(deadline - now) / 1e9) else {
                throw BenchError("\(name) did not print \(what) within \(timeout) s")
            }
            if accept(line) { return line }
        }
    }

    /// CPU time used so far by the whole process (all threads), in seconds; nil once it is gone.
    var cpuSeconds: Double? { cpuTime(statPath: "/proc/\(pid)/stat") }

    /// CPU time used so far by each of its threads, by thread id, with the thread's name.
    var threadCPUSeconds: [Int32: (name: String, seconds: Double)] {
        var threads: [Int32: (name: String, seconds: Double)] = [:]
        guard let directory = opendir("/proc/\(pid)/task") else { return threads }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let tid = Int32(name), let seconds = cpuTime(statPath: "/proc/\(pid)/task/\(tid)/stat") else { continue }
            threads[tid] = (threadName(path: "/proc/\(pid)/task/\(tid)/comm"), seconds)
        }
        return threads
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace` seconds. Idempotent.
    func terminate(grace: Double = 3) {
        guard !reaped else { return }
        kill(pid, SIGTERM)
        let deadline = monotonicNanoseconds() + nanoseconds(seconds: grace)
        while monotonicNanoseconds() < deadline {
            if reap(blocking: false) { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        reap(blocking: true)
    }

    /// Collects the exit status; true when the child is gone.
    @discardableResult
    func reap(blocking: Bool) -> Bool {
        guard !reaped else { return true }
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, blocking ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid || result < 0 else { return false }
        reaped = true
        ChildRegistry.remove(pid)
        let signal = status & 0x7f
        exitDescription = result < 0 ? "unknown status"
            : signal == 0 ? "exit status \((status >> 8) & 0xff)" : "killed by signal \(signal)"
        return true
    }
}

/// A thread's name from /proc (`comm`), without the newline.
private func threadName(path: String) -> String {
    let descriptor = open(path, O_RDONLY)
    guard descriptor >= 0 else { return "?" }
    defer { close(descriptor) }
    var bytes = [UInt8](repeating: 0, count: 64)
    let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
    guard count > 0 else { return "?" }
    return String(decoding: bytes[..<count].prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
}

/// Sends SIGTERM to all `children` at once, then waits for each (SIGKILL after `grace` seconds).
func terminateAll(_ children: [ChildProcess], grace: Double = 3) {
    for child in children where !child.reap(blocking: false) { kill(child.pid, SIGTERM) }
    for child in children { child.terminate(grace: grace) }
}

private func cpuTime(statPath: String) -> Double? {
    let descriptor = open(statPath, O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes = [UInt8](repeating: 0, count: 1_024)
    let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
    guard count > 0 else { return nil }
    // Fields after "(comm)": state is field 3, utime 14 and stime 15 (proc(5)).
    guard let close = bytes[..<count].lastIndex(of: UInt8(ascii: ")")) else { return nil }
    let fields = bytes[(close + 1)..<count].split(separator: UInt8(ascii: " "))
    guard fields.count > 12,
          let user = UInt64(String(decoding: fields[11], as: UTF8.self)),
          let system = UInt64(String(decoding: fields[12], as: UTF8.self))
    else { return nil }
    return Double(user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// The pids of live children, readable from a signal handler (a fixed C array, no Swift allocation).
enum ChildRegistry {
    private static let capacity = 32
    nonisolated(unsafe) private static let pids: UnsafeMutablePointer<pid_t> = {
        let pointer = UnsafeMutablePointer<pid_t>.allocate(capacity: capacity)
        pointer.initialize(repeating: 0, count: capacity)
        return pointer
    }()

    static func add(_ pid: pid_t) {
        for index in 0..<capacity where pids[index] == 0 {
            pids[index] = pid
            return
        }
    }

    static func remove(_ pid: pid_t) {
        for index in 0..<capacity where pids[index] == pid { pids[index] = 0 }
    }

    /// On SIGINT or SIGTERM: SIGTERM every live child, then exit 130.
    static func installSignalHandlers() {
        _ = pids  // allocate before any signal can arrive
        for number in [SIGINT, SIGTERM, SIGHUP] {
            signal(number) { _ in
                for index in 0..<ChildRegistry.capacity where ChildRegistry.pids[index] != 0 {
                    kill(ChildRegistry.pids[index], SIGTERM)
                }
                _exit(130)
            }
        }
    }
}

/// Busy CPU time of the whole machine so far (all cores), in seconds: `tasks` is user + nice + system time
/// (what processes are charged with), `interrupts` is irq + softirq time (loopback TCP does much of its work
/// in softirqs, which the kernel may charge to no process). Compared with the children's own CPU over a
/// measurement, `tasks` shows how much other work shared the machine.
func machineBusySeconds() -> (tasks: Double, interrupts: Double)? {
    let descriptor = open("/proc/stat", O_RDONLY)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var bytes = [UInt8](repeating: 0, count: 512)
    let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
    guard count > 0, let end = bytes[..<count].firstIndex(of: UInt8(ascii: "\n")) else { return nil }
    // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
    let fields = bytes[..<end].split(separator: UInt8(ascii: " ")).dropFirst().compactMap { UInt64(String(decoding: $0, as: UTF8.self)) }
    guard fields.count >= 7 else { return nil }
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    return (Double(fields[0] + fields[1] + fields[2]) / ticks, Double(fields[5] + fields[6]) / ticks)
}

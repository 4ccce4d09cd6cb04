#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the Prometheus `process_*` metrics report, read from /proc/self (Linux) and getrusage; zero where unavailable.
public struct ProcessStatistics: Sendable, Equatable {
    /// Resident memory in bytes (`/proc/self/statm`, second field, times the page size).
    public var residentBytes: Int64 = 0
    /// Virtual memory in bytes (`/proc/self/statm`, first field).
    public var virtualBytes: Int64 = 0
    /// Open file descriptors (entries of `/proc/self/fd`).
    public var openDescriptors: Int64 = 0
    /// The soft limit on open file descriptors.
    public var maxDescriptors: Int64 = 0
    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double = 0
    /// Threads of the process (`/proc/self/stat`, field 20).
    public var threads: Int64 = 0

    /// The process's current figures.
    public static func current() -> ProcessStatistics {
        var statistics = ProcessStatistics()
        let page = Int64(sysconf(Int32(_SC_PAGESIZE)))
        if let statm = readSmallFile("/proc/self/statm") {
            let fields = statm.split(separator: " ")
            if fields.count >= 2, let pages = Int64(fields[0]), let resident = Int64(fields[1]) {
                statistics.virtualBytes = pages * page
                statistics.residentBytes = resident * page
            }
        }
        if let stat = readSmallFile("/proc/self/stat"), let close = stat.lastIndex(of: ")") {
            // Fields after the command name (which may hold spaces): state is field 3, num_threads field 20.
            let rest = stat[stat.index(after: close)...].split(separator: " ")
            if rest.count > 17, let threads = Int64(rest[17]) { statistics.threads = threads }
        }
        statistics.openDescriptors = countDescriptors()
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { statistics.maxDescriptors = Int64(clamping: limit.rlim_cur) }
        var usage = rusage()
        if getrusage(RUSAGE_SELF.rawValue, &usage) == 0 {
            func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000 }
            statistics.cpuSeconds = seconds(usage.ru_utime) + seconds(usage.ru_stime)
        }
        return statistics
    }

    private static func countDescriptors() -> Int64 {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count: Int64 = 0
        while let entry = readdir(directory) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { $0.first == UInt8(ascii: ".") }
            if !isDot { count += 1 }
        }
        return max(0, count - 1)  // the directory stream's own descriptor
    }

    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4_096)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self).trimmingNewline()
    }
}

extension String {
    fileprivate func trimmingNewline() -> String {
        hasSuffix("\n") ? String(dropLast()) : self
    }
}

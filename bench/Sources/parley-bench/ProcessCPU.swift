#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ParleyChildProcess

/// CPU time of the scenario's processes, their threads and the whole machine, read from /proc.
extension ChildProcess {
    /// CPU time used so far by the whole process (all threads), in seconds; nil once it is gone.
    var cpuSeconds: Double? { cpuTime(statPath: "/proc/\(processIdentifier)/stat") }

    /// CPU time used so far by each of its threads, by thread id, with the thread's name.
    var threadCPUSeconds: [Int32: (name: String, seconds: Double)] {
        var threads: [Int32: (name: String, seconds: Double)] = [:]
        guard let directory = opendir("/proc/\(processIdentifier)/task") else { return threads }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let tid = Int32(name), let seconds = cpuTime(statPath: "/proc/\(processIdentifier)/task/\(tid)/stat") else { continue }
            threads[tid] = (threadName(path: "/proc/\(processIdentifier)/task/\(tid)/comm"), seconds)
        }
        return threads
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

/// CPU time (user + system) in a /proc `stat` file, in seconds; nil when it cannot be read.
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

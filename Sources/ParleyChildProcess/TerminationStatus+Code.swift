import Subprocess

extension TerminationStatus {
    /// The exit status, or the number of the signal that ended the process (as Foundation's Process says it).
    public var code: Int32 {
        switch self {
        case .exited(let code): code
        case .signaled(let signal): signal
        }
    }

    /// How the process ended, for people: "exit status 1", "killed by signal 9".
    public var summary: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finding the git work tree a path lies in, so that secret keys are not written where `git add` would take them.
enum GitWorkTree {
    /// The top folder of the git work tree holding the folder of `file` (the nearest folder upwards with a `.git`
    /// folder or file), or nil when there is none or the folder does not exist.
    static func enclosing(_ file: String) -> String? {
        let folder = file.contains("/") ? String(file[..<file.lastIndex(of: "/")!]) : "."
        guard let resolved = realpath(folder.isEmpty ? "/" : folder, nil) else { return nil }
        var current = String(cString: resolved)
        free(resolved)
        while true {
            var info = stat()
            if lstat(current + "/.git", &info) == 0 { return current }
            guard current != "/", let slash = current.lastIndex(of: "/") else { return nil }
            current = slash == current.startIndex ? "/" : String(current[..<slash])
        }
    }
}

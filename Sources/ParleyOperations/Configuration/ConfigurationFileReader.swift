import ParleyPolicy

/// Reads a process's config file through ParleyPolicy's configuration reader (the one YAML reader of the code base):
/// a flat mapping of single values, each with its line; any problem becomes a ``ConfigurationProblem`` at `path:line`.
enum ConfigurationFileReader {
    /// The entries of the file at `path`, in file order; a file that cannot be read is reported at `namedBy`,
    /// the flag or environment variable that gave its path.
    static func read(path: String, namedBy: String) throws(ConfigurationProblem) -> [FlatConfigurationEntry] {
        do {
            return try ConfigurationFile.flatEntries(ConfigurationFile.readText(path: path, describedAs: "the config file \(path)"),
                                                     source: path)
        } catch {
            throw ConfigurationProblem(location: error.line == 0 ? namedBy : "\(error.file):\(error.line)", problem: error.problem)
        }
    }
}

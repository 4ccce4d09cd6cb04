/// The release every Parley executable reports (`--version`, `parley_build_info{version=…}`); CHANGELOG.md lists
/// what each release changed.
public enum ParleyVersion {
    /// This build's version, semantic versioning.
    public static let current = "0.1.0"
}

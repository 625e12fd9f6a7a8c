/// The version reported in `User-Agent`, worker rows and `--version`.
public enum HooktopVersion {
    public static let current = "0.1.0"
}

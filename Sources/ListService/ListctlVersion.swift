/// The version `listctl --version` prints.
public enum ListctlVersion {
    public static let current = "0.1.0"
}

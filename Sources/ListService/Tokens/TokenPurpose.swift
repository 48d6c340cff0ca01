/// What a token lets its holder do. A token made for one purpose never
/// verifies for another. Stored as one byte in the token: a new purpose is a
/// new static constant with an unused raw value; never reuse or renumber one.
public struct TokenPurpose: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// `/unsubscribe/{token}` and the `List-Unsubscribe` header: one subscription.
    public static let unsubscribe = TokenPurpose(rawValue: 1)
    /// `/confirm/{token}`: double opt-in.
    public static let confirm = TokenPurpose(rawValue: 2)
    /// `/preferences/{token}`: the person's lists.
    public static let preferences = TokenPurpose(rawValue: 3)
    /// The VERP envelope sender (`bounces+TOKEN@domain`): names the delivery a DSN belongs to.
    public static let bounce = TokenPurpose(rawValue: 4)

    public static let known: [TokenPurpose] = [.unsubscribe, .confirm, .preferences, .bounce]

    public var description: String {
        switch self {
        case .unsubscribe: "unsubscribe"
        case .confirm: "confirm"
        case .preferences: "preferences"
        case .bounce: "bounce"
        default: "purpose \(rawValue)"
        }
    }
}

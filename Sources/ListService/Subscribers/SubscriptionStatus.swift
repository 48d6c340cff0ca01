/// The status of a subscription (`subscriptions.status`).
///
/// The SQL side of ``doNotMail`` is the function `listctl_stops_mail(status)`
/// of schema 0002; a test checks that the two agree.
public enum SubscriptionStatus: String, Sendable, Codable, CaseIterable, Hashable {
    /// Signed up, not confirmed yet (double opt-in).
    case pending
    case active
    case unsubscribed
    /// A permanent delivery failure.
    case bounced
    /// A spam complaint.
    case complained

    /// The statuses under which a subscription is never mailed, and which an
    /// import never turns back into active.
    public static let doNotMail: Set<SubscriptionStatus> = [.unsubscribed, .bounced, .complained]

    /// Whether this status stops mail (is in ``doNotMail``).
    public var stopsMail: Bool { Self.doNotMail.contains(self) }
}

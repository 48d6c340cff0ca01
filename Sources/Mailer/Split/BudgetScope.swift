/// What the size budget of a part bounds (docs/MAILER.md, "What the budget measures").
///
/// Most measurements put Gmail's clipping point on the HTML alternative
/// alone, about 102 KB as encoded; one vendor's guidance puts it on the whole
/// message. `html` follows the measurements and gives the fewest parts;
/// `message` follows the cautious reading and costs more parts.
public enum BudgetScope: String, Sendable, CaseIterable, Codable {
    /// The HTML alternative as encoded (quoted-printable), with the template,
    /// navigation, footnotes and the longest recipient fields.
    case html
    /// The whole message as it leaves listctl: every header (the per-recipient
    /// ones and a DKIM signature at their longest), the MIME boundaries, and
    /// both alternatives, text and HTML, as encoded.
    case message

    /// The scope when none is asked for.
    public static let `default` = BudgetScope.html

    /// The names accepted, for messages: `html|message`.
    public static var names: String { allCases.map(\.rawValue).joined(separator: "|") }
}

import Foundation
import Mailer

/// A subscriber row as it goes to the staging table.
struct SubscriberRow: Sendable, Hashable {
    var email: String
    var name: String
    /// pending | active | unsubscribed | bounced | complained
    var status: String
    /// unsubscribed | hard_bounce | complaint, when the export says never to mail again.
    var suppression: String?
    /// A `timestamptz` literal (see ``ImportTimestamp``), or `nil` for "now".
    var createdAt: String?
    /// A JSON object: every column not mapped to a field above.
    var attributes: String
}

/// What one CSV record becomes.
enum MappedRow: Sendable {
    case subscriber(SubscriberRow)
    /// A row the format says to leave out (Substack deletion requests), with why.
    case skipped(String)
}

/// Turns the records of one subscriber export into ``SubscriberRow``s: finds
/// the columns from the header, maps the format's status columns, keeps every
/// other non-empty column as an attribute.
struct SubscriberRowMapper {
    let format: ImportFormat
    let fileName: String
    let header: [String]
    private var email = -1
    private var name = -1
    private var firstName = -1
    private var lastName = -1
    private var createdAt = -1
    private var status = -1
    private var unsubscribed = -1
    private var emailDisabled = -1
    private var subscribedToEmails = -1
    private var listmonkAttributes = -1
    /// listctl export: `suppressed` true keeps the address suppressed.
    private var suppressedColumn = -1
    /// Columns that are neither fields nor attributes.
    private var ignored: [Int] = []
    /// Mailchimp file kind, from the header: its status for every row.
    private var fixedStatus: (status: String, suppression: String?)?
    /// Per column: `true` when it goes into attributes.
    private var isAttribute: [Bool]
    /// Attribute keys, pre-escaped as JSON strings.
    private var attributeKeys: [String]

    /// Field names `--map` accepts.
    static let mappableFields = ["email", "name", "first_name", "last_name", "created_at", "status", "unsubscribed"]

    init(format: ImportFormat, header: [String], fileName: String, columnMap: [String: String] = [:]) throws {
        self.format = format
        self.fileName = fileName
        self.header = header
        let folded = header.map(ImportFormat.fold)
        func column(_ aliases: [String]) -> Int {
            for alias in aliases { if let index = folded.firstIndex(of: alias) { return index } }
            return -1
        }
        email = column(ImportFormat.emailAliases)
        name = column(["name", "full_name", "fullname", "display_name"])
        firstName = column(["first_name", "firstname", "fname", "given_name"])
        lastName = column(["last_name", "lastname", "lname", "family_name", "surname"])
        switch format {
        case .mailchimp:
            createdAt = column(["optin_time", "confirm_time"])
            if folded.contains("unsub_time") {
                fixedStatus = ("unsubscribed", nil)
            } else if folded.contains("clean_time") {
                fixedStatus = ("bounced", "hard_bounce")
            } else {
                fixedStatus = ("active", nil)
            }
        case .substack:
            createdAt = column(["created_at", "subscription_created_at"])
            emailDisabled = column(["email_disabled"])
        case .ghost:
            createdAt = column(["created_at"])
            subscribedToEmails = column(["subscribed_to_emails"])
        case .buttondown:
            createdAt = column(["creation_date", "date_added", "created_at", "subscribed_at"])
            status = column(["subscriber_type", "type"])
        case .listmonk:
            createdAt = column(["created_at"])
            status = column(["status", "subscription_status"])
            listmonkAttributes = column(["attributes"])
            // listctl's own export (`listctl subscribers export`) reads as this
            // format; its bookkeeping columns are not attributes.
            if ExportedSubscriber.csvHeader.allSatisfy(folded.contains) {
                suppressedColumn = column(["suppressed"])
                ignored = ["list", "subscribed_at", "unsubscribed_at"].map { column([$0]) }
            }
        case .tinyletter, .generic:
            createdAt = column(["created_at", "subscribed_at", "created", "date_added", "signup_date", "subscribed", "date"])
            status = column(["status"])
            unsubscribed = column(["unsubscribed", "is_unsubscribed"])
        case .tinyletterArchive:
            throw ImportError(code: .invalidOption, message: "\(fileName): the letter archive holds issues, not subscribers")
        }
        for (field, columnName) in columnMap {
            let key = ImportFormat.fold(field)
            guard Self.mappableFields.contains(key) else {
                throw ImportError(code: .invalidOption, message: "--map: unknown field \"\(field)\"; use \(Self.mappableFields.joined(separator: ", "))")
            }
            guard let index = folded.firstIndex(of: ImportFormat.fold(columnName)) else {
                throw ImportError(code: .invalidOption, message: "--map \(field)=\(columnName): \(fileName) has no column \"\(columnName)\"; its columns are: \(header.joined(separator: ", "))")
            }
            switch key {
            case "email": email = index
            case "name": name = index
            case "first_name": firstName = index
            case "last_name": lastName = index
            case "created_at": createdAt = index
            case "status": status = index
            default: unsubscribed = index
            }
        }
        guard email >= 0 else {
            throw ImportError(code: .unknownFormat, message: "\(fileName):1: no e-mail column in the header (\(header.joined(separator: ","))); name it with --map email=COLUMN")
        }
        var isAttribute = [Bool](repeating: true, count: header.count)
        for index in [email, name, firstName, lastName, createdAt, status, unsubscribed, emailDisabled, subscribedToEmails, listmonkAttributes,
            suppressedColumn] + ignored
        where index >= 0 {
            isAttribute[index] = false
        }
        self.isAttribute = isAttribute
        self.attributeKeys = header.map { JSONText.quoted($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Maps one record.
    ///
    /// - Throws: a reason for people when the row cannot be imported.
    func map(_ record: CSVRecord) throws(RowProblem) -> MappedRow {
        let fields = record.fields
        guard fields.count == header.count else {
            throw RowProblem("\(fields.count) fields where the header has \(header.count) (a missing or extra comma, or an unquoted comma inside a value)")
        }
        let rawEmail = fields[email]
        let address: String
        do {
            address = try EmailAddress(normalizing: rawEmail).address
        } catch {
            throw RowProblem(error.reason)
        }
        if format == .substack, address.lowercased().hasSuffix("@deletion-request.substack.com") {
            return .skipped("a Substack deletion request")
        }
        var fullName = name >= 0 ? fields[name] : ""
        if fullName.isEmpty, firstName >= 0 || lastName >= 0 {
            let first = firstName >= 0 ? fields[firstName].trimmedSpaces : ""
            let last = lastName >= 0 ? fields[lastName].trimmedSpaces : ""
            fullName = first.isEmpty ? last : (last.isEmpty ? first : first + " " + last)
        } else if !fullName.isEmpty {
            fullName = fullName.trimmedSpaces
        }
        if fullName.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
            throw RowProblem("a line break inside the name \(EmailAddress.quoted(fullName)) (it would end up in a mail header)")
        }

        var state: (status: String, suppression: String?) = fixedStatus ?? ("active", nil)
        if status >= 0 {
            let word = fields[status]
            guard let mapped = Self.status(word: word) else {
                throw RowProblem("unknown status \(EmailAddress.quoted(word)) in column \(header[status]); expected active, pending, unsubscribed, bounced or complained")
            }
            state = mapped
        }
        // An export is of one list: leaving it is leaving this list (docs/SUPPRESSION.md), not every list.
        if unsubscribed >= 0, try Self.boolean(fields[unsubscribed], column: header[unsubscribed]), state.suppression == nil {
            state = ("unsubscribed", nil)
        }
        if emailDisabled >= 0, try Self.boolean(fields[emailDisabled], column: header[emailDisabled]), state.suppression == nil {
            state = ("unsubscribed", nil)
        }
        if subscribedToEmails >= 0, !(try Self.boolean(fields[subscribedToEmails], column: header[subscribedToEmails], empty: true)),
           state.suppression == nil {
            state = ("unsubscribed", nil)
        }
        if suppressedColumn >= 0, try Self.boolean(fields[suppressedColumn], column: header[suppressedColumn]), state.suppression == nil {
            state = (state.status == "active" || state.status == "pending" ? "unsubscribed" : state.status, "imported")
        }

        var created: String?
        var keepCreatedAsAttribute = false
        if createdAt >= 0, !fields[createdAt].isEmpty {
            created = ImportTimestamp.normalize(fields[createdAt])
            keepCreatedAsAttribute = created == nil
        }

        var attributes = "{"
        var first = true
        func add(_ key: String, _ value: String) {
            if !first { attributes += "," }
            first = false
            attributes += key
            attributes += ":"
            attributes += value
        }
        if listmonkAttributes >= 0, !fields[listmonkAttributes].trimmedSpaces.isEmpty {
            let text = fields[listmonkAttributes]
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                throw RowProblem("the attributes column is not a JSON object: \(EmailAddress.quoted(text))")
            }
            for key in object.keys.sorted() {
                guard let value = object[key], let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) else { continue }
                add(JSONText.quoted(key), String(decoding: data, as: UTF8.self))
            }
        }
        for index in fields.indices where (isAttribute[index] || (index == createdAt && keepCreatedAsAttribute)) && !fields[index].isEmpty {
            add(attributeKeys[index], JSONText.quoted(fields[index]))
        }
        attributes += "}"

        return .subscriber(SubscriberRow(
            email: address, name: fullName, status: state.status, suppression: state.suppression,
            createdAt: created, attributes: attributes))
    }

    /// The status and suppression a status word means, across services.
    /// Leaving (unsubscribed, disabled, removed) is of the export's list only;
    /// a bounce, a complaint or a service's own block list is of the address,
    /// so it suppresses it on every list (docs/SUPPRESSION.md).
    static func status(word: String) -> (status: String, suppression: String?)? {
        switch word.trimmedSpaces.lowercased() {
        case "", "active", "subscribed", "confirmed", "enabled", "regular", "premium", "gifted", "churning", "paused", "trialed",
            "free", "paid", "comped", "complimentary", "opted_in", "yes":
            return ("active", nil)
        case "pending", "unconfirmed", "unactivated", "opt_in_pending":
            return ("pending", nil)
        case "unsubscribed", "disabled", "removed", "inactive", "opted_out", "no":
            return ("unsubscribed", nil)
        case "blocklisted", "blacklisted", "spammy":
            return ("unsubscribed", "imported")
        case "bounced", "cleaned", "undeliverable", "hard_bounce", "hard_bounced":
            return ("bounced", "hard_bounce")
        case "complained", "complaint", "spam", "spam_complaint":
            return ("complained", "complaint")
        default:
            return nil
        }
    }

    static func boolean(_ text: String, column: String, empty: Bool = false) throws(RowProblem) -> Bool {
        switch text.trimmedSpaces.lowercased() {
        case "": return empty
        case "true", "t", "yes", "y", "1": return true
        case "false", "f", "no", "n", "0": return false
        default: throw RowProblem("\(EmailAddress.quoted(text)) in column \(column) is neither true nor false")
        }
    }
}

/// Why one row cannot be imported, for people.
struct RowProblem: Error, Sendable {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Minimal JSON text building for the attribute objects (faster than an
/// encoder for a million small objects, and exact).
enum JSONText {
    static func quoted(_ text: String) -> String {
        var needsEscape = false
        for byte in text.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            needsEscape = true
            break
        }
        guard needsEscape else { return "\"" + text + "\"" }
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if scalar.value < 0x20 {
                    output += String(format: "\\u%04x", scalar.value)
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        return output + "\""
    }
}

extension String {
    /// Without leading and trailing spaces and tabs; returns `self` (no copy)
    /// in the common case that there are none. Foundation's
    /// `trimmingCharacters` costs a quarter of the import's parsing time on Linux.
    var trimmedSpaces: String {
        let utf8 = self.utf8
        guard let first = utf8.first, let last = utf8.last else { return self }
        guard first == 0x20 || first == 0x09 || last == 0x20 || last == 0x09 else { return self }
        var start = utf8.startIndex
        var end = utf8.endIndex
        while start < end, utf8[start] == 0x20 || utf8[start] == 0x09 { start = utf8.index(after: start) }
        while end > start, utf8[utf8.index(before: end)] == 0x20 || utf8[utf8.index(before: end)] == 0x09 { end = utf8.index(before: end) }
        return String(self[start..<end])
    }
}

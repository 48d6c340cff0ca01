import Foundation
import Mustache

/// The HTML frame every part is poured into: a Mustache template.
///
/// Keys: `subject`, `preheader`/`has_preheader`, `list_name`,
/// `postal_address`/`has_postal_address`, `view_in_browser_url`/
/// `has_view_in_browser`, `is_split`, `part_number`, `part_total`,
/// `has_next`, `{{{content}}}` (exactly once, triple braces), and the
/// per-recipient `unsubscribe_url`, `preferences_url`, `email` and `name`,
/// filled at send time. Only `{{{content}}}` is required; a template without
/// `preferences_url` (or even `unsubscribe_url`) is valid, and the room for a
/// field is counted only where the template uses it.
public struct EmailTemplate: Sendable {
    let template: MustacheTemplate
    /// Where the template came from, for messages.
    public let source: String

    /// The built-in template.
    public static let `default`: EmailTemplate = {
        do {
            return try EmailTemplate(string: defaultSource, name: "built-in template")
        } catch {
            fatalError("the built-in template does not parse: \(error)")
        }
    }()

    /// Parses a template.
    /// - Throws: `MailerError` `.template` with the line of a syntax error, or
    ///   when `{{{content}}}` is missing.
    public init(string: String, name: String) throws {
        do {
            template = try MustacheTemplate(string: string)
        } catch let error as MustacheTemplate.ParserError {
            throw MailerError(
                code: .template, message: "template does not parse: \(error.error) (column \(error.context.columnNumber))",
                file: name, line: error.context.lineNumber)
        }
        guard string.contains("{{{content}}}") || string.contains("{{& content}}") || string.contains("{{&content}}") else {
            throw MailerError(
                code: .template, message: "template has no {{{content}}}: add it where the issue goes", file: name)
        }
        source = name
    }

    /// Reads and parses the template at `path`.
    public static func load(path: String) throws -> EmailTemplate {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MailerError(code: .unreadableFile, message: "cannot read the template file", file: path)
        }
        return try EmailTemplate(string: String(decoding: data, as: UTF8.self), name: path)
    }

    static let contentToken = "@@LISTCTL-CONTENT@@"

    struct FrameContext {
        var subject: String
        var preheader: String?
        var listName: String
        var postalAddress: String
        var viewInBrowserURL: String?
        var partNumber: Int
        var partTotal: Int
    }

    /// The HTML before and after the content for one part. The prefix always
    /// ends a line, so content starts on a fresh line (the splitter's sizes add up).
    func frame(_ context: FrameContext) throws -> (prefix: [UInt8], suffix: [UInt8]) {
        var values: [String: Any] = [
            "subject": context.subject,
            "list_name": context.listName,
            "has_preheader": !(context.preheader ?? "").isEmpty,
            "preheader": context.preheader ?? "",
            "has_postal_address": !context.postalAddress.isEmpty,
            "postal_address": context.postalAddress,
            "has_view_in_browser": context.viewInBrowserURL != nil,
            "view_in_browser_url": context.viewInBrowserURL ?? "",
            "is_split": context.partTotal > 1,
            "part_number": context.partNumber,
            "part_total": context.partTotal,
            "has_next": context.partNumber < context.partTotal,
            "content": Self.contentToken,
        ]
        for field in RecipientField.allCases { values[field.templateKey] = field.token }
        let rendered = Array(template.render(values).utf8)
        let token = Array(Self.contentToken.utf8)
        let found = Self.occurrences(of: token, in: rendered)
        guard found.count == 1, let start = found.first else {
            throw MailerError(code: .template, message: "{{{content}}} must appear exactly once, outside any section", file: source)
        }
        var prefix = Array(rendered[..<start])
        if prefix.last != 10 { prefix.append(10) }
        return (prefix, Array(rendered[(start + token.count)...]))
    }

    /// Start offsets of `needle` in `haystack` (needles here start with a byte that is rare in HTML).
    static func occurrences(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        var found: [Int] = []
        guard let first = needle.first, haystack.count >= needle.count else { return found }
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) {
                found.append(i)
                i += needle.count
            } else {
                i += 1
            }
        }
        return found
    }
}

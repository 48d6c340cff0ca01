import Foundation
import Hummingbird
import Mailer

extension SubscriberHTTPService {
    /// `GET <root>/issues/{slug}`: the whole issue, unsplit: the page every part's "View in browser" link
    /// opens (docs/ARCHIVE.md). 404 for an issue that is not public (a private list, `archive: false`,
    /// a standing issue, one not sent). The page carries no token of anyone's and links to `<root>/subscribe`.
    func archivedIssue(_ request: Request, slug: String, prefix: [String]) async throws -> Response {
        guard request.method == .get || request.method == .head else {
            return Response(status: .methodNotAllowed, headers: [.allow: "GET, HEAD"])
        }
        let host = request.head.authority
        let lists = try await ListStore(database: database).all().filter { root(of: $0)?.matches(host: host, prefix: prefix) == true }
        guard let issue = try await PublicIssue.load(slug: slug, of: lists, from: database),
              let list = lists.first(where: { $0.id == issue.listID })
        else { return Self.notFound("There is no issue here.") }
        let subscribeURL = list.publicBaseURL(default: configuration.defaultBaseURL).map { $0 + "/subscribe" }
        return Self.page(.ok, ServicePages.issue(issue, listName: list.name, subscribeURL: subscribeURL), list: list)
    }
}

extension ServicePages {
    /// An issue, whole: its title unless the issue opens with its own, the date, the content, a way to subscribe.
    static func issue(_ issue: PublicIssue, listName: String, subscribeURL: String?) -> Page {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "d MMMM yyyy"
        let iso = ISO8601DateFormatter().string(from: issue.sentAt)
        let dateLine = "<p><time datetime=\"\(iso)\">\(formatter.string(from: issue.sentAt))</time> · \(escape(listName))</p>\n"
        var content = "<article>\n"
        // The title, then the date: the issue's own opening heading when it has one, else its subject.
        if issue.html.drop(while: { $0.isWhitespace }).hasPrefix("<h1"), let end = issue.html.range(of: "</h1>") {
            content += issue.html[..<end.upperBound] + "\n" + dateLine + issue.html[end.upperBound...]
        } else {
            content += "<h1>\(escape(issue.subject))</h1>\n" + dateLine + issue.html
        }
        content += "\n</article>\n"
        if let subscribeURL {
            content += "<p><a href=\"\(escape(subscribeURL))\">Subscribe to \(escape(listName))</a></p>\n"
        }
        return Page(title: issue.subject, content: content)
    }
}

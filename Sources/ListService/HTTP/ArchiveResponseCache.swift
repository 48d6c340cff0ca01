import Foundation
import Mailer
import Synchronization

/// The archive's answers as last built, by page, each with the fingerprint of
/// what it was built from (the list as stored, the public root, every issue
/// shown with its content hash and dates). A request whose fingerprint
/// matches gets the same bytes and ETag without the template, the feed's XML
/// or the hash being made again; any change of those makes a new answer.
/// At most ``capacity`` answers are kept (the oldest go first).
final class ArchiveResponseCache: Sendable {
    struct Answer: Sendable {
        var fingerprint: Int
        var body: [UInt8]
        var etag: String
    }

    static let capacity = 256

    private let answers = Mutex<(byKey: [String: Answer], order: [String])>(([:], []))

    /// The answer for `key` built from `fingerprint`: kept, or made by `build` and kept.
    func answer(_ key: String, fingerprint: Int, build: () -> String) -> Answer {
        if let kept = answers.withLock({ $0.byKey[key] }), kept.fingerprint == fingerprint { return kept }
        let body = Array(build().utf8)
        let answer = Answer(fingerprint: fingerprint, body: body, etag: "\"" + Digest.hex(Array(Digest.sha256(body).prefix(16))) + "\"")
        answers.withLock { state in
            if state.byKey.updateValue(answer, forKey: key) == nil { state.order.append(key) }
            while state.order.count > Self.capacity { state.byKey[state.order.removeFirst()] = nil }
        }
        return answer
    }

    /// What a page of `list` at `root` showing `issues` was built from.
    static func fingerprint(_ list: MailingList, root: String, issues: [PublicIssue], lastModified: Date) -> Int {
        // Strings go in as their bytes: String's own hashing normalises Unicode first, which cost more than
        // the page when measured (bench-archive PROFILE=archive).
        var hasher = Hasher()
        func text(_ string: String?) {
            guard var string else { return hasher.combine(-1) }
            hasher.combine(string.utf8.count)
            string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        }
        hasher.combine(list.id)
        for field in [list.name, list.fromName, list.baseURL, list.pageTemplate, root] { text(field) }
        hasher.combine(list.allowRawHTML)
        hasher.combine(list.archiveIsPublic)
        hasher.combine(lastModified)
        for issue in issues {
            // Not the HTML itself (the whole feed's worth): the content's hash and the rest of what a page shows.
            hasher.combine(issue.id)
            for field in [issue.contentSHA256, issue.slug, issue.subject, issue.summary] { text(field) }
            hasher.combine(issue.publishedAt)
            hasher.combine(issue.updatedAt)
        }
        return hasher.finalize()
    }
}

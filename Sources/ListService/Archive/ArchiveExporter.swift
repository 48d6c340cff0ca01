import Foundation
import Logging

/// `listctl archive export`: a list's public archive as static files, the
/// same pages and feed `listctl serve` answers, laid out so that the links
/// every mail carries resolve on a static host whose root is the list's
/// public root (docs/ARCHIVE.md):
///
///     DIR/index.html                  the archive's first page (also DIR/archive/index.html, List-Archive's target)
///     DIR/page/N/index.html           its further pages, 20 issues each
///     DIR/issues/<slug>/index.html    each issue, whole (the mailed <root>/issues/<slug>)
///     DIR/feed.xml                    Atom 1.0
///
/// Links between them are relative, so the folder also reads straight from
/// disk. The export is written next to DIR and then swapped in: a reader
/// never sees half of one, and a folder that is not an earlier export is
/// never replaced.
public struct ArchiveExporter: Sendable {
    let database: ListDatabase
    let configuration: ListctlConfiguration
    let logger: Logger

    /// The file that marks a folder as an export, so a later export may replace it.
    public static let marker = ".listctl-archive"

    public init(database: ListDatabase, configuration: ListctlConfiguration, logger: Logger) {
        self.database = database
        self.configuration = configuration
        self.logger = logger
    }

    public struct Summary: Sendable, Encodable {
        public var list: String
        public var folder: String
        public var issues: Int
        public var files: Int
        public var bytes: Int
        /// Where the pages belong (the list's public root), when it has one.
        public var publicRoot: String?
    }

    /// - Throws: ``ListServiceError`` `.notFound` (no such list), `.conflict` (the archive is private, or `folder`
    ///   is something other than an earlier export), `.invalidInput` (a file cannot be written there).
    public func export(list slug: String, to folder: URL) async throws -> Summary {
        let list = try await ListStore(database: database).require(slug)
        guard list.archiveIsPublic, let contents = try await PublicArchive(database: database).contents(of: list) else {
            throw ListServiceError(code: .conflict, message: """
                list "\(slug)" keeps its archive private: nothing was exported. \
                Make it public with `listctl lists set \(slug) --archive public` first.
                """)
        }
        let folder = folder.standardizedFileURL
        try Self.checkReplaceable(folder)
        let pages = ArchivePages(list: list, layout: .exported(root: list.publicBaseURL(default: configuration.defaultBaseURL)))
        var files: [(path: String, text: String)] = []
        for number in 1...ArchivePages.pageCount(issues: contents.issues.count) {
            guard let page = pages.index(contents.issues, page: number) else { continue }
            files.append((ArchiveLayout.file(.index(page: number)), PageTemplate.frame(page, list: list)))
        }
        if let alias = pages.index(contents.issues, page: 1, at: .archiveFolder) {
            files.append((ArchiveLayout.file(.archiveFolder), PageTemplate.frame(alias, list: list)))
        }
        for issue in contents.issues {
            files.append((ArchiveLayout.file(.issue(slug: issue.slug)), PageTemplate.frame(pages.issue(issue), list: list)))
        }
        files.append((ArchiveLayout.file(.feed), pages.feed(contents.issues, updated: contents.lastModified)))
        files.append((Self.marker, "An archive written by `listctl archive export --list \(slug)`; the next export replaces this folder.\n"))

        let fileManager = FileManager.default
        let parent = folder.deletingLastPathComponent()
        let staging = parent.appendingPathComponent(".\(folder.lastPathComponent).export-\(UUID().uuidString.prefix(8))")
        do {
            try fileManager.createDirectory(at: staging, withIntermediateDirectories: true)
            for file in files {
                let url = staging.appendingPathComponent(file.path)
                try fileManager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try Data(file.text.utf8).write(to: url)
            }
            if fileManager.fileExists(atPath: folder.path) {
                let old = parent.appendingPathComponent(".\(folder.lastPathComponent).old-\(UUID().uuidString.prefix(8))")
                try fileManager.moveItem(at: folder, to: old)
                try fileManager.moveItem(at: staging, to: folder)
                try? fileManager.removeItem(at: old)
            } else {
                try fileManager.moveItem(at: staging, to: folder)
            }
        } catch {
            try? fileManager.removeItem(at: staging)
            throw ListServiceError(code: .invalidInput, message: "\(folder.path): cannot write the archive there (\(error.localizedDescription)); nothing was changed")
        }
        logger.debug("archive exported", metadata: ["archive.issues": "\(contents.issues.count)", "archive.files": "\(files.count)"])
        return Summary(
            list: slug, folder: folder.path, issues: contents.issues.count, files: files.count - 1,
            bytes: files.reduce(0) { $0 + $1.text.utf8.count }, publicRoot: pages.layout.root)
    }

    /// `folder` may be written: it does not exist, is empty, or holds an earlier export.
    static func checkReplaceable(_ folder: URL) throws {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        guard fileManager.fileExists(atPath: folder.path, isDirectory: &isDirectory) else { return }
        guard isDirectory.boolValue else {
            throw ListServiceError(code: .conflict, message: "\(folder.path) is a file, not a folder: nothing was exported. Choose a folder with --out.")
        }
        let entries = (try? fileManager.contentsOfDirectory(atPath: folder.path)) ?? []
        guard entries.isEmpty || entries.contains(marker) else {
            throw ListServiceError(code: .conflict, message: """
                \(folder.path) holds files that are not an archive export (\(entries.count) entries): nothing was exported, \
                nothing there was touched. Choose an empty or new folder with --out.
                """)
        }
    }
}

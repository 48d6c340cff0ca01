import Foundation
import ZIPFoundation

/// A zip of CSV exports, as Mailchimp hands out an audience
/// (`subscribed_members_export_….csv`, `unsubscribed_…`, `cleaned_…`).
/// Read with ZIPFoundation; only the CSV files are taken out, by their base
/// name, into a private folder (no path from the archive is ever used).
enum ZipExport {
    /// `true` when the file starts with a zip local-file header.
    static func isZip(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let magic = (try? handle.read(upToCount: 4)) ?? Data()
        return magic == Data([0x50, 0x4B, 0x03, 0x04])
    }

    /// Extracts the CSV files of the zip at `url` into `directory`, ordered
    /// subscribed, unsubscribed, cleaned, then the others by name.
    ///
    /// - Throws: ``ImportError`` `.unreadable` for a broken archive, `.empty` when it holds no CSV.
    static func extractCSVs(from url: URL, fileName: String, to directory: URL) throws -> [URL] {
        let archive: Archive
        do {
            archive = try Archive(url: url, accessMode: .read)
        } catch {
            throw ImportError(code: .unreadable, message: "\(fileName): not a readable zip archive (\(error))")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var files: [URL] = []
        for entry in archive where entry.type == .file {
            let name = (entry.path as NSString).lastPathComponent
            guard name.lowercased().hasSuffix(".csv"), !name.hasPrefix("._"), !entry.path.hasPrefix("__MACOSX/") else { continue }
            let destination = directory.appendingPathComponent("\(files.count)-\(name)")
            do {
                _ = try archive.extract(entry, to: destination)
            } catch {
                throw ImportError(code: .unreadable, message: "\(fileName): cannot extract \(entry.path) (\(error))")
            }
            files.append(destination)
        }
        guard !files.isEmpty else {
            throw ImportError(code: .empty, message: "\(fileName): the zip holds no .csv file; expected Mailchimp's subscribed/unsubscribed/cleaned members exports")
        }
        func rank(_ url: URL) -> Int {
            let name = url.lastPathComponent.lowercased()
            if name.contains("unsubscribed") { return 1 }
            if name.contains("cleaned") { return 2 }
            if name.contains("subscribed") { return 0 }
            return 3
        }
        return files.sorted { (rank($0), $0.lastPathComponent) < (rank($1), $1.lastPathComponent) }
    }

    /// The entry's name as the user knows it (without the extraction prefix).
    static func entryName(_ url: URL) -> String {
        let name = url.lastPathComponent
        guard let dash = name.firstIndex(of: "-") else { return name }
        return String(name[name.index(after: dash)...])
    }
}

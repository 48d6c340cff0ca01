import Foundation
import Logging
import Mailer
import Postgres

/// Imports TinyLetter's letter archive (`Subject,Content,Created_At`, HTML
/// content) as past issues of a list: state `sent`, `sent_at` the original
/// date, `source_format` html. An issue already stored with the same content
/// is left alone, so importing an archive twice adds nothing.
struct IssueArchiveImporter {
    let logger: Logger

    static let createStaging = """
        CREATE TEMP TABLE archive_staging (
            line     integer NOT NULL,
            subject  text NOT NULL,
            source   text NOT NULL,
            sent_at  timestamptz
        ) ON COMMIT DROP
        """
    static let copyStaging = "COPY archive_staging (line, subject, source, sent_at) FROM STDIN"
    /// One statement for the whole archive; the partial unique index on
    /// (list_id, content_sha256) makes a repeated letter a no-op.
    static let merge = """
        INSERT INTO issues (list_id, subject, source, source_format, content_sha256, state, sent_at, created_at, updated_at)
        SELECT $1, subject, source, 'html', encode(sha256(convert_to(source, 'UTF8')), 'hex'), 'sent',
               sent_at, COALESCE(sent_at, now()), now()
        FROM archive_staging
        ORDER BY sent_at NULLS LAST, line
        ON CONFLICT (list_id, content_sha256) WHERE state <> 'cancelled' DO NOTHING
        """

    func importArchive(
        reader: inout CSVReader, header: CSVRecord, summary: ImportSummary, on connection: PostgresConnection,
        progress: SubscriberImporter.Progress?
    ) async throws -> ImportSummary {
        var summary = summary
        let fileName = summary.file
        let folded = header.fields.map(ImportFormat.fold)
        guard let subjectColumn = folded.firstIndex(of: "subject"), let contentColumn = folded.firstIndex(of: "content") else {
            throw ImportError(code: .unknownFormat, message: "\(fileName):\(header.line): a letter archive needs Subject and Content columns; this header is \(header.fields.joined(separator: ","))")
        }
        let dateColumn = ["created_at", "sent_at", "date", "published_at"].lazy.compactMap { folded.firstIndex(of: $0) }.first

        do {
            return try await connection.transaction(end: summary.dryRun ? .rollback : .commit) { connection in
                try await connection.execute(script: ImportSQL.serialize)
                let list = try await ListStore.findOrCreate(summary.list, on: connection)
                if let previous = try await connection.query(
                    "SELECT inserted + unchanged FROM imports WHERE list_id = $1 AND sha256 = $2", list.id, summary.sha256
                ).first {
                    summary.alreadyImported = true
                    summary.unchanged = try previous.decode(at: 0)
                    // Roll back: a list that findOrCreate just made is not kept.
                    throw AlreadyImported(summary: summary)
                }
                try await connection.execute(script: Self.createStaging)
                var errors: [ImportRowError] = []
                var errorCount = 0
                var rows = 0
                _ = try await connection.copyFrom(Self.copyStaging) { writer in
                    while let record = try reader.next() {
                        rows += 1
                        progress?(reader.bytesRead, reader.fileSize)
                        guard record.fields.count == header.fields.count else {
                            errorCount += 1
                            if errors.count < ImportError.maximumReportedRows {
                                errors.append(ImportRowError(file: fileName, line: record.line, reason: "\(record.fields.count) fields where the header has \(header.fields.count)"))
                            }
                            continue
                        }
                        var sentAt: String?
                        if let dateColumn, !record.fields[dateColumn].isEmpty {
                            sentAt = ImportTimestamp.normalize(record.fields[dateColumn])
                            if sentAt == nil {
                                errorCount += 1
                                if errors.count < ImportError.maximumReportedRows {
                                    errors.append(ImportRowError(file: fileName, line: record.line, reason: "\(EmailAddress.quoted(record.fields[dateColumn])) is not a date"))
                                }
                                continue
                            }
                        }
                        // A subject is one header line: fold any line break in an old subject into a space.
                        var subject = record.fields[subjectColumn].split(whereSeparator: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
                            .joined(separator: " ").trimmingCharacters(in: .whitespaces)
                        if subject.isEmpty { subject = "(no subject)" }
                        guard errorCount == 0 else { continue }
                        var line: [UInt8] = Array(String(record.line).utf8)
                        line.append(0x09)
                        StagingEncoder.field(subject, to: &line)
                        line.append(0x09)
                        StagingEncoder.field(record.fields[contentColumn], to: &line)
                        line.append(0x09)
                        line.append(contentsOf: (sentAt ?? "\\N").utf8)
                        line.append(0x0A)
                        try await writer.write(line)
                    }
                    if errorCount > 0 {
                        throw ImportError(
                            code: .invalidRows, message: "\(fileName): \(errorCount) of \(rows) letters are invalid; nothing was imported.",
                            rowErrors: errors, rowErrorCount: errorCount)
                    }
                }
                let inserted = try await connection.query(Self.merge, list.id).affectedRows
                summary.rows = rows
                summary.inserted = inserted
                summary.unchanged = rows - inserted
                try await SubscriberImporter.record(summary, listID: list.id, on: connection)
                logger.debug("archive imported", metadata: ["import.inserted": "\(inserted)"])
                return summary
            }
        } catch let marker as AlreadyImported {
            return marker.summary
        }
    }

    /// Thrown out of the transaction to roll it back when the archive was imported before.
    private struct AlreadyImported: Error {
        var summary: ImportSummary
    }
}

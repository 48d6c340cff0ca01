public import Foundation
public import Logging
import Postgres
import Mailer

/// How to run an import.
public struct ImportOptions: Sendable {
    /// The list to import into; created when it does not exist.
    public var list: String
    /// Overrides detection from the header.
    public var format: ImportFormat?
    /// `field=COLUMN` pairs for a generic CSV (or to override a column of a known format).
    public var columnMap: [String: String]
    public var encoding: CSVEncoding
    /// Import the valid rows and write the others to `rejectsURL`, instead of refusing the file.
    public var skipInvalid: Bool
    /// Where `skipInvalid` writes rejected rows (default: beside the file, `NAME.rejects.csv`).
    public var rejectsURL: URL?
    /// Do everything, report the counts, then roll back.
    public var dryRun: Bool
    /// The name used in messages (default: the file's name).
    public var displayName: String?
    /// `--exclusive`: lock lists, subscribers and subscriptions (ACCESS
    /// EXCLUSIVE: every other reader and writer waits until the import
    /// commits) and, from ``ImportSQL/bulkKeyThreshold`` new subscribers,
    /// check the subscription foreign keys in bulk instead of per row. Needs
    /// ownership of the tables. By default an import locks only the rows it
    /// writes.
    public var exclusive: Bool
    /// Overrides ``ImportSQL/bulkKeyThreshold`` (for tests).
    public var bulkKeyThreshold: Int?
    /// Called inside the import's transaction right after planning, before
    /// the merge (tests use it to write "meanwhile" from another connection).
    var afterPlanning: (@Sendable () async throws -> Void)?
    /// Called inside the import's transaction after everything is written,
    /// just before COMMIT: every lock the import takes is held then.
    var beforeCommit: (@Sendable () async throws -> Void)?

    public init(
        list: String = "main", format: ImportFormat? = nil, columnMap: [String: String] = [:], encoding: CSVEncoding = .utf8,
        skipInvalid: Bool = false, rejectsURL: URL? = nil, dryRun: Bool = false, displayName: String? = nil,
        exclusive: Bool = false
    ) {
        self.exclusive = exclusive
        self.list = list
        self.format = format
        self.columnMap = columnMap
        self.encoding = encoding
        self.skipInvalid = skipInvalid
        self.rejectsURL = rejectsURL
        self.dryRun = dryRun
        self.displayName = displayName
    }

    /// Parses `email=Email Address,name=Full Name` (what `--map` takes).
    ///
    /// - Throws: ``ImportError`` `.invalidOption`.
    public static func parseColumnMap(_ text: String) throws -> [String: String] {
        var map: [String: String] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].trimmingCharacters(in: .whitespaces).isEmpty, !parts[1].isEmpty else {
                throw ImportError(code: .invalidOption, message: "--map: \"\(pair)\" is not FIELD=COLUMN (example: --map email=E-mail,name=Full Name)")
            }
            let field = parts[0].trimmingCharacters(in: .whitespaces)
            guard SubscriberRowMapper.mappableFields.contains(ImportFormat.fold(field)) else {
                throw ImportError(code: .invalidOption, message: "--map: unknown field \"\(field)\"; use \(SubscriberRowMapper.mappableFields.joined(separator: ", "))")
            }
            map[field] = String(parts[1])
        }
        return map
    }
}

/// What an import did (or, for a dry run, would do).
public struct ImportSummary: Sendable, Codable, Hashable {
    public var list: String
    public var file: String
    public var format: ImportFormat
    public var sha256: String
    /// Data rows in the file (not counting the header or blank lines).
    public var rows: Int = 0
    /// New on the list (a subscription created; for the archive, issues created).
    public var inserted: Int = 0
    /// Already on the list, and something changed (status, name, attributes).
    public var updated: Int = 0
    /// Already on the list as the file says.
    public var unchanged: Int = 0
    /// Addresses in the file that end up not mailable: unsubscribed, bounced,
    /// complained or suppressed (kept so, never resubscribed).
    public var suppressed: Int = 0
    /// Invalid rows (written to the rejects file with `--skip-invalid`).
    public var rejected: Int = 0
    /// Rows the format says to leave out (Substack deletion requests).
    public var skipped: Int = 0
    /// Rows that repeated an address already in the file (merged into one).
    public var duplicates: Int = 0
    /// Distinct addresses in the file that were forgotten (`listctl subscribers
    /// forget`): left out, nothing of them stored. Not in `inserted`, `updated` or `unchanged`.
    public var forgotten: Int = 0
    /// The same file was imported into this list before: nothing was done.
    public var alreadyImported: Bool = false
    public var dryRun: Bool = false
    /// Where rejected rows were written, if any were.
    public var rejectsFile: String?

    public init(list: String, file: String, format: ImportFormat, sha256: String) {
        self.list = list
        self.file = file
        self.format = format
        self.sha256 = sha256
    }
}

/// Imports a subscriber export (or TinyLetter's letter archive) into a list.
///
/// The file is read once, as a stream; rows are normalised and validated in
/// Swift and COPYed into a temporary staging table; the merge is a handful of
/// set-based statements (``ImportSQL``), all in one transaction. Any invalid
/// row refuses the whole file unless `skipInvalid` is set.
public struct SubscriberImporter: Sendable {
    public let database: ListDatabase
    public let logger: Logger
    /// Recognise forgotten people (``ForgottenAddresses``). `nil`: none
    /// configured, fine only while nobody was ever forgotten (else the import is refused).
    public let forgetKeys: ForgetKeys?

    public init(database: ListDatabase, logger: Logger? = nil, forgetKeys: ForgetKeys? = nil) {
        self.database = database
        self.logger = logger ?? database.logger
        self.forgetKeys = forgetKeys
    }

    /// Progress: raw bytes read so far and the file's size.
    public typealias Progress = @Sendable (_ bytesRead: Int, _ totalBytes: Int) -> Void

    /// Imports the file at `url`.
    ///
    /// - Returns: the counts; `alreadyImported` when the same file (by SHA-256)
    ///   was imported into this list before, in which case nothing changed.
    /// - Throws: ``ImportError`` for the file or its rows (nothing written),
    ///   ``ListServiceError`` for a bad list slug, `PostgresError` from the database.
    public func importFile(at url: URL, options: ImportOptions = ImportOptions(), progress: Progress? = nil) async throws -> ImportSummary {
        try await database.pool.withConnection { connection in
            try await self.importFile(at: url, options: options, on: connection, progress: progress)
        }
    }

    /// Imports the file at `url` on `connection`, which must not be inside a
    /// transaction: the import is its own.
    public func importFile(
        at url: URL, options: ImportOptions = ImportOptions(), on connection: PostgresConnection, progress: Progress? = nil
    ) async throws -> ImportSummary {
        let fileName = options.displayName ?? url.lastPathComponent
        if ZipExport.isZip(url) {
            return try await importZip(at: url, fileName: fileName, options: options, on: connection, progress: progress)
        }
        let sha256 = try FileDigest.sha256(of: url, fileName: fileName)
        var (reader, header, format) = try Self.open(url, fileName: fileName, options: options)
        defer { reader.close() }
        var summary = ImportSummary(list: options.list, file: fileName, format: format, sha256: sha256)
        summary.dryRun = options.dryRun
        if format == .tinyletterArchive {
            return try await IssueArchiveImporter(logger: logger)
                .importArchive(reader: &reader, header: header, summary: summary, on: connection, progress: progress)
        }
        let mapper = try SubscriberRowMapper(format: format, header: header.fields, fileName: fileName, columnMap: options.columnMap)
        var rejects = try options.skipInvalid ? RejectsWriter(url: options.rejectsURL ?? Self.defaultRejectsURL(for: url), header: header.fields) : nil
        defer { rejects?.close() }

        do {
            return try await connection.transaction(end: options.dryRun ? .rollback : .commit) { connection in
                try await connection.execute(script: ImportSQL.serialize)
                if options.exclusive { try await connection.execute(script: ImportSQL.lockExclusive) }
                let list = try await ListStore.findOrCreate(options.list, on: connection)
                if let previous = try await connection.query(
                    "SELECT started_at, inserted + updated + unchanged FROM imports WHERE list_id = $1 AND sha256 = $2", list.id, sha256
                ).first {
                    summary.alreadyImported = true
                    summary.unchanged = try previous.decode(at: 1)
                    let when: Date = try previous.decode(at: 0)
                    logger.info("file already imported", metadata: ["import.sha256": "\(sha256)", "import.at": "\(when)"])
                    // Roll back: a list that findOrCreate just made is not kept.
                    throw AlreadyImported(summary: summary)
                }
                try await connection.query(ImportSQL.setList, String(list.id))
                try await connection.execute(script: ImportSQL.session)
                try await connection.execute(script: ImportSQL.createStaging)
                // Hash the file's addresses only when somebody was forgotten: most installations never pay for it.
                let forgottenCount: Int = try await connection.query(ImportSQL.anyForgotten)[0].decode(at: 0)
                var hasher: ForgetKeys?
                if forgottenCount > 0 {
                    guard let forgetKeys else { throw ForgottenAddresses.noKey(forgotten: forgottenCount) }
                    hasher = forgetKeys
                }

                var errors: [ImportRowError] = []
                var errorCount = 0
                var rows = 0
                var skipped = 0
                var written = 0
                var stepStart = ContinuousClock.now
                let staged = try await connection.copyFrom(ImportSQL.copyStaging) { writer in
                    var batch: [UInt8] = []
                    batch.reserveCapacity(1 << 18)
                    var nextProgress = 0
                    while let record = try reader.next() {
                        rows += 1
                        if let progress, reader.bytesRead >= nextProgress {
                            progress(reader.bytesRead, reader.fileSize)
                            nextProgress = reader.bytesRead + (1 << 20)
                        }
                        let mapped: MappedRow
                        do throws(RowProblem) {
                            mapped = try mapper.map(record)
                        } catch {
                            errorCount += 1
                            if errors.count < ImportError.maximumReportedRows {
                                errors.append(ImportRowError(file: fileName, line: record.line, reason: error.reason))
                            }
                            try rejects?.write(record: record, reason: error.reason)
                            continue
                        }
                        switch mapped {
                        case .subscriber(let row):
                            // Once the import is doomed, keep reading only to report every bad row.
                            guard errorCount == 0 || options.skipInvalid else { continue }
                            StagingEncoder.append(row, line: record.line, forgetKeys: hasher, to: &batch)
                            written += 1
                            if batch.count >= 1 << 18 {
                                try await writer.write(batch)
                                batch.removeAll(keepingCapacity: true)
                            }
                        case .skipped(let why):
                            skipped += 1
                            logger.debug("row skipped", metadata: ["import.line": "\(record.line)", "import.reason": "\(why)"])
                        }
                    }
                    if errorCount > 0, !options.skipInvalid {
                        throw ImportError(
                            code: .invalidRows,
                            message: "\(fileName): \(errorCount) of \(rows) rows are invalid; nothing was imported. Fix them, or run again with --skip-invalid to import the rest and write the bad rows to a rejects file.",
                            rowErrors: errors, rowErrorCount: errorCount)
                    }
                    if !batch.isEmpty { try await writer.write(batch) }
                }
                progress?(reader.fileSize, reader.fileSize)
                logger.debug("staged rows", metadata: ["import.rows": "\(staged)", "import.duration": "\(ContinuousClock.now - stepStart)"])
                stepStart = ContinuousClock.now
                summary.rows = rows
                summary.rejected = errorCount
                summary.skipped = skipped
                if errorCount > 0 { summary.rejectsFile = rejects?.url.path }

                if hasher != nil {
                    let dropped = try await connection.query(ImportSQL.dropForgotten)[0]
                    summary.forgotten = try dropped.decode(column: "forgotten")
                    written -= try dropped.decode(Int.self, column: "forgotten_rows")
                }
                try await connection.execute(script: ImportSQL.analyzeStaging)
                let planned = try await connection.query(ImportSQL.plan).affectedRows
                if planned < written { try await connection.execute(script: ImportSQL.mergeDuplicates) }
                try await connection.execute(script: ImportSQL.analyzeRows)
                logger.debug("planned", metadata: ["import.distinct": "\(planned)", "import.duration": "\(ContinuousClock.now - stepStart)"])
                let counts = try await connection.query(ImportSQL.counts)[0]
                let plan = try PlannedCounts(counts)
                summary.inserted = plan.inserted
                summary.updated = plan.updated
                summary.suppressed = plan.suppressed
                summary.unchanged = plan.distinct - plan.inserted - plan.updated
                summary.duplicates = written - plan.distinct
                try await options.afterPlanning?()

                let bulkKeys = options.exclusive && plan.newSubscribers >= (options.bulkKeyThreshold ?? ImportSQL.bulkKeyThreshold)
                var outputs: [String: Int] = [:]
                for step in ImportSQL.merge {
                    switch step.when {
                    case .always: break
                    case .updates: guard plan.changes > 0 else { continue }
                    case .signupsMeanwhile: guard outputs["subscribers_inserted", default: 0] < plan.newSubscribers else { continue }
                    }
                    let start = ContinuousClock.now
                    let wrap = bulkKeys && step.name == ImportSQL.insertSubscriptionsStep
                    if wrap { try await connection.execute(script: ImportSQL.dropSubscriptionKeys) }
                    let result = try await connection.query(step.sql)
                    switch step.output {
                    case .none: break
                    case .rowCount(let name): outputs[name] = result.affectedRows
                    case .counts(let names):
                        for name in names { outputs[name] = try result[0].decode(Int.self, column: name) }
                    }
                    if wrap { try await connection.execute(script: ImportSQL.restoreSubscriptionKeys) }
                    logger.debug("merge step", metadata: ["import.step": "\(step.name)", "import.duration": "\(ContinuousClock.now - start)"])
                }
                if try await Self.account(for: outputs, planned: plan, in: &summary, on: connection) {
                    logger.info("merged with changes made meanwhile", metadata: ["import.file": "\(fileName)"])
                }
                try await Self.record(summary, listID: list.id, on: connection)
                try await options.beforeCommit?()
                return summary
            }
        } catch let marker as AlreadyImported {
            return marker.summary
        } catch let error as PostgresError where error.isUniqueViolation {
            throw ImportError(
                code: .conflict,
                message: "\(fileName): nothing was imported: a row was added by someone else while the import ran (\(error.message)). Run the import again.")
        }
    }

    /// Thrown out of the import's transaction to roll it back when the file
    /// was imported before.
    private struct AlreadyImported: Error {
        var summary: ImportSummary
    }

    /// The plan's counts (``ImportSQL/counts``).
    struct PlannedCounts {
        var distinct, inserted, updated, suppressed, changes, newSubscribers, joining, statusChanges: Int

        init(_ row: PostgresRow) throws {
            distinct = try row.decode(column: "distinct_rows")
            inserted = try row.decode(column: "inserted")
            updated = try row.decode(column: "updated")
            suppressed = try row.decode(column: "suppressed")
            changes = try row.decode(column: "changes")
            newSubscribers = try row.decode(column: "new_subscribers")
            joining = try row.decode(column: "joining")
            statusChanges = try row.decode(column: "status_changes")
        }
    }

    /// Corrects the planned counts for what others wrote between planning
    /// and merge, from what each merge step reports.
    ///
    /// - Returns: whether anything was written meanwhile.
    static func account(
        for outputs: [String: Int], planned: PlannedCounts, in summary: inout ImportSummary, on connection: PostgresConnection
    ) async throws -> Bool {
        // Status changes skipped because the status changed meanwhile: the
        // import did not change them (their name or attributes it may have).
        let skipped = planned.statusChanges - outputs["updated_statuses", default: 0]
        // Addresses someone else added meanwhile, and subscriptions to this
        // list that someone else created meanwhile (merged, not inserted).
        let addedMeanwhile = planned.newSubscribers - outputs["subscribers_inserted", default: 0]
        let joinedInserted = outputs["joined_inserted", default: 0]
        let joinedUpdated = outputs["joined_updated", default: 0]
        let conflicts = planned.joining + addedMeanwhile - joinedInserted
        let late = outputs["late_suppressed", default: 0]
        guard skipped > 0 || addedMeanwhile > 0 || conflicts > 0 || late > 0 else { return false }
        summary.updated += joinedUpdated - skipped
        summary.unchanged += skipped + conflicts - joinedUpdated
        summary.inserted -= conflicts
        summary.suppressed = try await connection.query(ImportSQL.recountSuppressed)[0].decode(at: 0)
        return true
    }

    /// A zip of exports (Mailchimp's audience zip): every CSV in it is checked
    /// first, so a bad row in any of them refuses the whole zip before anything
    /// is written; then each is imported (one transaction each, subscribed
    /// before unsubscribed and cleaned) and the counts are added up.
    private func importZip(
        at url: URL, fileName: String, options: ImportOptions, on connection: PostgresConnection, progress: Progress?
    ) async throws -> ImportSummary {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("listctl-zip-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let files = try ZipExport.extractCSVs(from: url, fileName: fileName, to: directory)
        var entries: [(url: URL, options: ImportOptions)] = []
        for file in files {
            var entryOptions = options
            entryOptions.displayName = "\(fileName)/\(ZipExport.entryName(file))"
            let base = (ZipExport.entryName(file) as NSString).deletingPathExtension
            entryOptions.rejectsURL = (options.rejectsURL ?? Self.defaultRejectsURL(for: url))
                .deletingPathExtension().appendingPathExtension("\(base).csv")
            if !options.skipInvalid { try Self.check(file, options: entryOptions) }
            entries.append((file, entryOptions))
        }
        var total = ImportSummary(list: options.list, file: fileName, format: .mailchimp, sha256: try FileDigest.sha256(of: url, fileName: fileName))
        total.dryRun = options.dryRun
        total.alreadyImported = true
        for (index, entry) in entries.enumerated() {
            let summary = try await importFile(at: entry.url, options: entry.options, on: connection, progress: progress)
            if index == 0 { total.format = summary.format }
            total.rows += summary.rows
            total.inserted += summary.inserted
            total.updated += summary.updated
            total.unchanged += summary.unchanged
            total.suppressed += summary.suppressed
            total.rejected += summary.rejected
            total.skipped += summary.skipped
            total.duplicates += summary.duplicates
            total.forgotten += summary.forgotten
            total.alreadyImported = total.alreadyImported && summary.alreadyImported
            if let rejects = summary.rejectsFile { total.rejectsFile = [total.rejectsFile, rejects].compactMap { $0 }.joined(separator: ", ") }
        }
        return total
    }

    /// Reads and maps every row of `url` without touching the database.
    ///
    /// - Throws: ``ImportError``: the file's own errors, or `.invalidRows` with the first 20.
    static func check(_ url: URL, options: ImportOptions) throws {
        let fileName = options.displayName ?? url.lastPathComponent
        var (reader, header, format) = try open(url, fileName: fileName, options: options)
        defer { reader.close() }
        guard format != .tinyletterArchive else { return }
        let mapper = try SubscriberRowMapper(format: format, header: header.fields, fileName: fileName, columnMap: options.columnMap)
        var errors: [ImportRowError] = []
        var count = 0
        var rows = 0
        while let record = try reader.next() {
            rows += 1
            do throws(RowProblem) {
                _ = try mapper.map(record)
            } catch {
                count += 1
                if errors.count < ImportError.maximumReportedRows {
                    errors.append(ImportRowError(file: fileName, line: record.line, reason: error.reason))
                }
            }
        }
        if count > 0 {
            throw ImportError(
                code: .invalidRows,
                message: "\(fileName): \(count) of \(rows) rows are invalid; nothing was imported. Fix them, or run again with --skip-invalid to import the rest and write the bad rows to a rejects file.",
                rowErrors: errors, rowErrorCount: count)
        }
    }

    /// Writes the imports row and one 'imported' event.
    static func record(_ summary: ImportSummary, listID: Int64, on connection: PostgresConnection) async throws {
        let row = try await connection.query(
            """
            INSERT INTO imports (list_id, file_name, sha256, format, rows_total, inserted, updated, unchanged, suppressed, rejected, forgotten, finished_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())
            RETURNING id
            """,
            listID, summary.file, summary.sha256, summary.format.rawValue, summary.rows, summary.inserted, summary.updated,
            summary.unchanged, summary.suppressed, summary.rejected, summary.forgotten)
        let importID: Int64 = try row[0].decode(at: 0)
        let detail = try PostgresJSON(encoding: ImportEventDetail(importID: importID, summary: summary))
        try await connection.query(
            "INSERT INTO events (kind, list_id, detail) VALUES ('imported', $1, $2::jsonb)", listID, detail)
    }

    private struct ImportEventDetail: Encodable {
        var importID: Int64
        var summary: ImportSummary
        enum CodingKeys: String, CodingKey { case importID = "import_id", file, format, inserted, updated, unchanged, suppressed, rejected, forgotten }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(importID, forKey: .importID)
            try container.encode(summary.file, forKey: .file)
            try container.encode(summary.format, forKey: .format)
            try container.encode(summary.inserted, forKey: .inserted)
            try container.encode(summary.updated, forKey: .updated)
            try container.encode(summary.unchanged, forKey: .unchanged)
            try container.encode(summary.suppressed, forKey: .suppressed)
            try container.encode(summary.rejected, forKey: .rejected)
            try container.encode(summary.forgotten, forKey: .forgotten)
        }
    }

    /// Opens `url`, reads its header row and detects (or takes) its format.
    ///
    /// - Throws: ``ImportError`` for an unreadable or empty file or an unknown layout.
    static func open(_ url: URL, fileName: String, options: ImportOptions) throws -> (CSVReader, CSVRecord, ImportFormat) {
        var reader = try CSVReader(url: url, fileName: fileName, encoding: options.encoding)
        do {
            guard let header = try reader.next() else {
                throw ImportError(code: .empty, message: "\(fileName):1: the file is empty; expected a header row such as Email,Name,Created_At")
            }
            return (reader, header, try format(of: header, options: options, fileName: fileName))
        } catch {
            reader.close()
            throw error
        }
    }

    static func format(of header: CSVRecord, options: ImportOptions, fileName: String) throws -> ImportFormat {
        if let format = options.format { return format }
        if !options.columnMap.isEmpty, options.columnMap.keys.contains(where: { ImportFormat.fold($0) == "email" }) {
            return ImportFormat.detect(header: header.fields) ?? .generic
        }
        guard let format = ImportFormat.detect(header: header.fields) else {
            throw ImportError(
                code: .unknownFormat,
                message: "\(fileName):\(header.line): no e-mail column in the header (\(header.fields.joined(separator: ","))). Name it with --map email=COLUMN, or pick a format with --format (\(ImportFormat.allCases.map(\.rawValue).joined(separator: ", "))).")
        }
        return format
    }

    static func defaultRejectsURL(for url: URL) -> URL {
        url.deletingPathExtension().appendingPathExtension("rejects.csv")
    }

    /// Reads and validates the file as an import would and writes the COPY
    /// data it would send to `output`, touching no database (for the benchmark
    /// and for inspecting what an import stages).
    ///
    /// - Returns: how many rows were written.
    public static func writeStaging(of url: URL, options: ImportOptions = ImportOptions(), to output: URL) throws -> Int {
        let fileName = options.displayName ?? url.lastPathComponent
        var (reader, header, format) = try open(url, fileName: fileName, options: options)
        defer { reader.close() }
        let mapper = try SubscriberRowMapper(format: format, header: header.fields, fileName: fileName, columnMap: options.columnMap)
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        var batch: [UInt8] = []
        var written = 0
        while let record = try reader.next() {
            if case .subscriber(let row) = try? mapper.map(record) {
                StagingEncoder.append(row, line: record.line, to: &batch)
                written += 1
                if batch.count >= 1 << 20 {
                    try handle.write(contentsOf: batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }
        try handle.write(contentsOf: batch)
        return written
    }
}

/// Encodes staging rows in COPY text format.
enum StagingEncoder {
    /// `forgetKeys`: also the hashes of the address under each key (hex, space-separated), else NULL.
    static func append(_ row: SubscriberRow, line: Int, forgetKeys: ForgetKeys? = nil, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: String(line).utf8)
        buffer.append(0x09)
        field(row.email, to: &buffer)
        buffer.append(0x09)
        field(row.name, to: &buffer)
        buffer.append(0x09)
        buffer.append(contentsOf: row.status.utf8)
        buffer.append(0x09)
        if let suppression = row.suppression { buffer.append(contentsOf: suppression.utf8) } else { null(&buffer) }
        buffer.append(0x09)
        if let created = row.createdAt { buffer.append(contentsOf: created.utf8) } else { null(&buffer) }
        buffer.append(0x09)
        field(row.attributes, to: &buffer)
        buffer.append(0x09)
        if let forgetKeys {
            for (index, hash) in forgetKeys.hashes(emailKey: row.email.lowercased()).enumerated() {
                if index > 0 { buffer.append(0x20) }
                buffer.append(contentsOf: Digest.hex(hash).utf8)
            }
        } else {
            null(&buffer)
        }
        buffer.append(0x0A)
    }

    private static func null(_ buffer: inout [UInt8]) {
        buffer.append(0x5C)
        buffer.append(0x4E)
    }

    /// Text with COPY's escapes: backslash, tab, LF and CR.
    static func field(_ text: String, to buffer: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for index in 0..<bytes.count {
                let escaped: UInt8
                switch bytes[index] {
                case 0x5C: escaped = 0x5C
                case 0x09: escaped = 0x74
                case 0x0A: escaped = 0x6E
                case 0x0D: escaped = 0x72
                default: continue
                }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
                buffer.append(0x5C)
                buffer.append(escaped)
                start = index + 1
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<bytes.count]))
        }
    }
}

/// The rejects file of `--skip-invalid`: the line, the reason, then the row as it was.
struct RejectsWriter {
    let url: URL
    private var handle: FileHandle?
    private let width: Int

    init(url: URL, header: [String]) throws {
        self.url = url
        self.width = header.count
        guard FileManager.default.createFile(atPath: url.path, contents: Data(CSVWriter.line(["line", "reason"] + header).utf8)) else {
            throw ImportError(code: .unreadable, message: "\(url.path): cannot create the rejects file; choose another path with --rejects")
        }
        handle = try FileHandle(forWritingTo: url)
        handle?.seekToEndOfFile()
    }

    private var count = 0

    mutating func write(record: CSVRecord, reason: String) throws {
        try handle?.write(contentsOf: Data(CSVWriter.line([String(record.line), reason] + record.fields).utf8))
        count += 1
    }

    /// Closes the file, and removes it when no row was rejected.
    mutating func close() {
        guard let handle else { return }
        try? handle.close()
        self.handle = nil
        if count == 0 { try? FileManager.default.removeItem(at: url) }
    }
}

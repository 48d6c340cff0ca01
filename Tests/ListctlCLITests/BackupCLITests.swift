import Foundation
import TestSupport
import Testing

@Suite("listctl db backup / db restore")
struct BackupCLITests {
    @Test("backup, refuse to overwrite, restore into an empty database, refuse a non-empty one, --force; exit codes")
    func backupAndRestore() async throws {
        try await withTemporaryDatabase { source in
            try await withTemporaryDatabase { target in
                let work = try makeTemporaryDirectory("cli-backup")
                let file = work.appendingPathComponent("list.dump")
                let cli = CLI(databaseURL: source.url, home: work)
                #expect(try await cli.run("migrate").status == 0)
                #expect(try await cli.run("lists", "create", "weekly", "--name", "The Weekly").status == 0)

                let backup = try await cli.run("db", "backup", file.path)
                #expect(backup.status == 0, "\(backup.stderr)")
                #expect(backup.stdout.contains("wrote \(file.path)") && backup.stdout.contains("1 lists"), "\(backup.stdout)")
                let again = try await cli.run("db", "backup", file.path)
                #expect(again.status == 1)
                #expect(again.stderr.contains("already exists") && again.stderr.contains("--force"))
                #expect(!again.stderr.contains("ListServiceError("))
                #expect(try await cli.run("db", "backup", file.path, "--force").status == 0)
                let json = try await cli.run("db", "backup", file.path, "--force", "--json")
                let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
                #expect((object?["bytes"] as? Int ?? 0) > 0)

                let into = CLI(databaseURL: target.url, home: work)
                let restore = try await into.run("db", "restore", file.path)
                #expect(restore.status == 0, "\(restore.stderr)")
                #expect(restore.stdout.contains("restored") && restore.stdout.contains("1 lists"), "\(restore.stdout)")
                #expect(try await into.run("lists").stdout.contains("weekly"))

                let refused = try await into.run("db", "restore", file.path)
                #expect(refused.status == 1)
                #expect(refused.stderr.contains("1 lists") && refused.stderr.contains("add --force"), "\(refused.stderr)")
                #expect(try await into.run("db", "restore", file.path, "--force").status == 0)

                let notArchive = work.appendingPathComponent("export.csv")
                try Data("Email\nann@example.com\n".utf8).write(to: notArchive)
                let bad = try await into.run("db", "restore", notArchive.path, "--force")
                #expect(bad.status == 1)
                #expect(bad.stderr.contains("is not a listctl backup"))

                #expect(try await into.run("db", "restore").status == 2)
                let help = try await into.run("db", "restore", "--help")
                #expect(help.stdout.contains("replaces everything") || help.stdout.contains("Replace everything"))
            }
        }
    }
}

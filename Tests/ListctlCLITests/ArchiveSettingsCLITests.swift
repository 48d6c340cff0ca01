import Foundation
import Postgres
import TestSupport
import Testing

/// Who may read a list's archive (schema 0010): `lists create/set --archive
/// public|private`, and front matter `archive: false` for one issue.
@Suite("Archive settings: a list's archive public or private, an issue left out")
struct ArchiveSettingsCLITests {
    static func archive(of slug: String, _ fixture: DeliveryCLITests.Fixture) async throws -> String? {
        let listed = try await fixture.run("lists", "--json")
        let lists = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
        return lists.first { $0["slug"] as? String == slug }?["archive"] as? String
    }

    @Test("public by default; --archive private and back; a bad value is a usage error that changes nothing; the table shows it")
    func listSetting() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("weekly", [])
            #expect(try await Self.archive(of: "weekly", fixture) == "public")
            let created = try await fixture.run("lists", "create", "secret", "--archive", "private")
            #expect(created.status == 0, "\(created.stderr)")
            #expect(try await Self.archive(of: "secret", fixture) == "private")
            let set = try await fixture.run("lists", "set", "weekly", "--archive", "private")
            #expect(set.status == 0, "\(set.stderr)")
            #expect(try await Self.archive(of: "weekly", fixture) == "private")
            let bad = try await fixture.run("lists", "set", "weekly", "--archive", "friends")
            #expect(bad.status == 2 && bad.stderr.contains("archive") && bad.stderr.contains("public"), "\(bad.stderr)")
            #expect(try await Self.archive(of: "weekly", fixture) == "private", "unchanged")
            let renamed = try await fixture.run("lists", "set", "weekly", "--name", "Weekly")
            #expect(renamed.status == 0)
            #expect(try await Self.archive(of: "weekly", fixture) == "private", "other changes leave it")
            let back = try await fixture.run("lists", "set", "weekly", "--archive", "public")
            #expect(back.status == 0)
            #expect(try await Self.archive(of: "weekly", fixture) == "public")
            let table = try await fixture.run("lists")
            #expect(table.stdout.contains("ARCHIVE") && table.stdout.contains("private"), "\(table.stdout)")
        }
    }

    @Test("front matter archive: false leaves the issue out, true or nothing keeps it in; archive: maybe is refused naming the line, nothing stored")
    func frontMatter() async throws {
        try await DeliveryCLITests.withFixture { fixture in
            try await fixture.makeList("weekly", DeliveryCLITests.people("arch", 2))
            let outbox = "outbox://\(fixture.work.appendingPathComponent("outbox").path)"
            func issue(_ name: String, _ frontMatter: String) throws -> String {
                let file = fixture.work.appendingPathComponent("\(name).md")
                try "---\nsubject: Issue \(name)\n\(frontMatter)---\n\nBody of \(name).\n".write(to: file, atomically: true, encoding: .utf8)
                return file.path
            }
            for (name, frontMatter) in [("hidden", "archive: false\n"), ("shown", "archive: true\n"), ("plain", "")] {
                let (sent, _) = try await fixture.send(try issue(name, frontMatter), list: "weekly", env: ["LISTCTL_TRANSPORT": outbox])
                #expect(sent.status == 0, "\(name): \(sent.stderr)")
            }
            let refused = try await fixture.run("send", try issue("maybe", "archive: maybe\n"), "--list", "weekly", "--yes", env: ["LISTCTL_TRANSPORT": outbox])
            #expect(refused.status == 1, "\(refused.stdout)")
            #expect(refused.stderr.contains("maybe.md:3") && refused.stderr.contains("`archive` is true or false"), "\(refused.stderr)")
            let stored: [String] = try await withConnection(to: fixture.database) { connection in
                try await connection.query("SELECT subject || ':' || in_archive FROM issues WHERE NOT standing ORDER BY id")
                    .map { try $0.decode(String.self, at: 0) }
            }
            #expect(stored == ["Issue hidden:false", "Issue shown:true", "Issue plain:true"], "\(stored)")
        }
    }
}

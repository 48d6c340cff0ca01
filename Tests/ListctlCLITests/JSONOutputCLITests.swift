import Foundation
import TestSupport
import Testing

/// Every command's machine output uses one key style: camelCase.
@Suite("JSON output: camelCase keys everywhere")
struct JSONOutputCLITests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ListServiceTests/Fixtures/import")

    /// Keys anywhere in `value` that are not camelCase (contain `_` or start
    /// upper-case), as paths. `attributes` of an exported subscriber is skipped:
    /// its keys are the source export's column names, data rather than schema.
    static func badKeys(_ value: Any, path: String = "$") -> [String] {
        if let object = value as? [String: Any] {
            return object.flatMap { key, child -> [String] in
                let here = "\(path).\(key)"
                var bad = key.contains("_") || key.first?.isUppercase == true ? [here] : []
                if key != "attributes" { bad += badKeys(child, path: here) }
                return bad
            }
        }
        if let array = value as? [Any] {
            return array.enumerated().flatMap { index, child in badKeys(child, path: "\(path)[\(index)]") }
        }
        return []
    }

    /// Runs `arguments`, parses stdout as JSON (one document, or one per line) and checks every key.
    static func check(_ cli: CLI, _ arguments: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let result = try await cli.run(arguments)
        #expect(result.status == 0, "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        let parsed = try #require(
            try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)), "\(arguments) printed no JSON: \(result.stdout)",
            sourceLocation: sourceLocation)
        let empty = (parsed as? [Any])?.isEmpty == true || (parsed as? [String: Any])?.isEmpty == true
        #expect(!empty, "\(arguments) printed empty JSON, which checks nothing", sourceLocation: sourceLocation)
        let bad = badKeys(parsed)
        #expect(bad.isEmpty, "\(arguments): keys not in camelCase: \(bad)", sourceLocation: sourceLocation)
    }

    @Test("status, lists, issues, import, export, preview, migrate status, db backup and db restore")
    func camelCase() async throws {
        try await withTemporaryDatabase { database in
            try await withTemporaryDatabase { target in
                let work = try makeTemporaryDirectory("cli-json")
                let cli = CLI(databaseURL: database.url, home: work)
                #expect(try await cli.run("migrate").status == 0)
                #expect(try await cli.run("lists", "create", "weekly", "--from", "Ann <ann@example.com>", "--base-url", "https://news.example.com").status == 0)

                let csv = work.appendingPathComponent("export.csv")
                try "Email,Name,Created_At,Unsubscribed,favourite_colour\r\nann@example.com,Ann,2019-01-02 03:04:05 UTC,false,teal\r\nbob@example.com,Bob,2019-01-02 03:04:05 UTC,true,\r\n"
                    .write(to: csv, atomically: true, encoding: .utf8)
                try await Self.check(cli, "import", csv.path, "--list", "weekly", "--json")
                try await Self.check(cli, "import", csv.path, "--list", "weekly", "--dry-run", "--json")
                try await Self.check(cli, "import", Self.fixtures.appendingPathComponent("tinyletter_archive.csv").path, "--list", "weekly", "--json")

                try await Self.check(cli, "status", "--json")
                try await Self.check(cli, "lists", "--json")
                try await Self.check(cli, "lists", "show", "--json")
                try await Self.check(cli, "issues", "--json")
                try await Self.check(cli, "issues", "list", "--list", "weekly", "--json")
                try await Self.check(cli, "migrate", "status", "--json")
                try await Self.check(cli, "subscribers", "export", "--format", "json")
                try await Self.check(cli, "subscribers", "export", "--list", "weekly", "--status", "unsubscribed", "--format", "json")

                let issue = work.appendingPathComponent("issue.md")
                try "---\nsubject: Hello\n---\n\n# Hi\n\nA paragraph.\n".write(to: issue, atomically: true, encoding: .utf8)
                try await Self.check(cli, "preview", issue.path, "--json")
                try await Self.check(cli, "preview", issue.path, "--list", "weekly", "--json")

                let file = work.appendingPathComponent("list.dump")
                try await Self.check(cli, "db", "backup", file.path, "--json")
                try await Self.check(CLI(databaseURL: target.url, home: work), "db", "restore", file.path, "--json")

                // The CSV keeps its column names: they are a file format that import reads back.
                let exported = try await cli.run("subscribers", "export", "--list", "weekly")
                #expect(exported.stdout.hasPrefix("email,name,status,created_at,subscribed_at,unsubscribed_at,suppressed,list,attributes"))
            }
        }
    }

    @Test("the walker finds snake_case and PascalCase keys, nested, and leaves attributes alone")
    func walker() throws {
        let value: [String: Any] = [
            "okKey": [["schema_version": 1]], "Upper": 1, "attributes": ["first_name": "x"], "nested": ["deep": ["html_bytes": 2]],
        ]
        #expect(Set(Self.badKeys(value)) == ["$.okKey[0].schema_version", "$.Upper", "$.nested.deep.html_bytes"])
    }
}

import Foundation
import Testing

@Suite("listctl secret")
struct SecretCLITests {
    @Test("secret generate prints a fresh 43-character base64url secret and touches nothing")
    func generate() async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("secret-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let cli = CLI(databaseURL: nil, home: home, extra: ["LISTCTL_SECRET": "must-never-be-printed-0123456789abcdefghijklmnop"])
        let first = try await cli.run("secret", "generate")
        let second = try await cli.run("secret", "generate")
        #expect(first.status == 0 && second.status == 0)
        let secret = first.stdout.trimmingCharacters(in: .newlines)
        #expect(secret.count == 43)
        #expect(secret.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
        #expect(first.stdout == secret + "\n")
        #expect(first.stdout != second.stdout)
        #expect(!first.stdout.contains("must-never-be-printed") && !first.stderr.contains("must-never-be-printed"))
        #expect(!FileManager.default.fileExists(atPath: home.path))
        let help = try await cli.run("secret", "--help")
        #expect(help.stdout.contains("generate"))
    }
}

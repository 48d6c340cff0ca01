import Foundation
@testable import ListService
import Postgres
import TestSupport
import Testing

/// The forget key (docs/SUPPRESSION.md "Erasure"): loaded like the token
/// secret but never the same setting, and ``ForgottenAddresses``, the check
/// the sign-up pages use.
@Suite("Forget keys and the forgotten addresses")
struct ForgetKeysTests {
    static let keyA = "Fk2Lm9Qx4Rt7Vb1Nc6Hd3Jg8Ks5Pw0ZeYaUoXiTqWuE"
    static let keyB = "Nw5Kq8Zr2Xt6Vm9Lb3Hc7Jd1Gs4Pf0AeYoUiTkWxRqC"

    static func error(_ body: () throws -> Void) -> ListServiceError? {
        do { try body() } catch let error as ListServiceError { return error } catch { return nil }
        return nil
    }

    @Test("the hash: one per address whatever its case, another under another key; ids, never keys, in the description")
    func hashes() throws {
        let keys = try ForgetKeys([Self.keyA, Self.keyB])
        let one = ForgottenAddresses.hexHashes("Ada@example.com", keys)
        #expect(one == ForgottenAddresses.hexHashes("ADA@example.com", keys))
        #expect(one.count == 2 && one[0] != one[1] && one.allSatisfy { $0.count == 64 })
        #expect(one[0] != ForgottenAddresses.hexHashes("ada@example.org", keys)[0])
        #expect(!keys.description.contains(Self.keyA) && keys.description.hasPrefix("ForgetKeys("))
        #expect(try ForgetKeys([Self.keyA]).current.id == (try TokenSecrets([Self.keyA])).current.id, "key ids are made as the secret's")
    }

    @Test("loading: LISTCTL_FORGET_KEY or _FILE, not both; never LISTCTL_SECRET; weak keys refused naming file and line")
    func configuration() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("forget-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let file = home.appendingPathComponent("keys")
        try "# new\n\(Self.keyB)\n\n# old\n\(Self.keyA)\n".write(to: file, atomically: true, encoding: .utf8)
        let external = "postgresql://db.example.org/list"
        let fromFile = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path, "LISTCTL_FORGET_KEY_FILE": file.path, "DATABASE_URL": external])
        let loaded = try ForgetKeys.load(fromFile)
        let keyB = try ForgetKeys([Self.keyB])
        #expect(loaded.keys.keys.count == 2 && loaded.notice == nil && loaded.keys.current.id == keyB.current.id)
        let both = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path, "LISTCTL_FORGET_KEY": Self.keyA, "LISTCTL_FORGET_KEY_FILE": file.path])
        #expect(Self.error { _ = try ForgetKeys.load(both) }?.message.contains("both LISTCTL_FORGET_KEY and LISTCTL_FORGET_KEY_FILE") == true)
        // The token secret is no forget key.
        let secretOnly = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path, "LISTCTL_SECRET": Self.keyA, "DATABASE_URL": external])
        let refused = Self.error { _ = try ForgetKeys.load(secretOnly) }
        #expect(refused?.message.hasPrefix("no forget key is set, and DATABASE_URL names an external database") == true, "\(String(describing: refused))")
        #expect(refused?.message.contains("listctl secret generate > /etc/listctl/forget-key && chmod 600 /etc/listctl/forget-key") == true)
        #expect(try ForgetKeys.loadIfConfigured(secretOnly) == nil, "a check with no key configured gets nil, not a refusal")
        let weak = Self.error { _ = try ForgetKeys.parse("\(Self.keyA)\nshort\n", source: "/etc/listctl/forget-key") }
        #expect(weak?.message.hasPrefix("/etc/listctl/forget-key:2: the forget key is too short (5 characters; at least 43 needed)") == true)
        #expect(Self.error { _ = try ForgetKeys.parse("# none\n", source: "f") }?.message.hasPrefix("f: no key in the file") == true)
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("forget-key").path))
    }

    @Test("embedded database: LISTCTL_HOME/forget-key is made on the first erasure only (mode 0600, announced), then reused; a check never makes one")
    func embeddedDefault() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("forget-\(UUID().uuidString)/home")
        defer { try? FileManager.default.removeItem(at: home.deletingLastPathComponent()) }
        let configuration = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path])
        #expect(try ForgetKeys.loadIfConfigured(configuration) == nil)
        #expect(!FileManager.default.fileExists(atPath: home.path), "a check made nothing")
        let first = try ForgetKeys.load(configuration)
        let path = home.appendingPathComponent("forget-key").path
        #expect(first.notice?.contains("created a forget key in \(path) (mode 0600)") == true)
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try ForgetKeys.load(configuration)
        #expect(second.notice == nil && second.keys.current.id == first.keys.current.id)
        #expect(try ForgetKeys.loadIfConfigured(configuration)?.current.id == first.keys.current.id)
        #expect(try FileManager.default.contentsOfDirectory(atPath: home.path) == ["forget-key"], "not the token secret's file")
    }

    @Test("ForgottenAddresses: contains in any case after a forget, remove (the person's own confirmation) lets them in again; with no key, fine while nobody is forgotten, refused after")
    func forgottenAddresses() async throws {
        try await ImportHarness.with { harness in
            let keys = try ForgetKeys([Self.keyA])
            let forgotten = ForgottenAddresses(database: harness.database, keys: keys)
            let unkeyed = ForgottenAddresses(database: harness.database, keys: nil)
            #expect(try await unkeyed.contains("zoe@example.com") == false)
            #expect(try await forgotten.contains("zoe@example.com") == false)
            let outcome = try await SubscriberErasure(database: harness.database, keys: keys).forget("Zoe@Example.com")
            #expect(!outcome.found && outcome.nothingStored && !outcome.alreadyForgotten)
            #expect(try await forgotten.contains("ZOE@example.COM"))
            #expect(try await forgotten.contains("zoe@example.org") == false)
            await #expect(throws: ListServiceError.self) { _ = try await unkeyed.contains("other@example.com") }
            await #expect(throws: ListServiceError.self) { _ = try await forgotten.contains("not an address") }
            let counted = try await forgotten.count()
            #expect(counted.total == 1 && counted.unmatched == 0)
            let rotated = try await ForgottenAddresses(database: harness.database, keys: try ForgetKeys([Self.keyB])).count()
            #expect(rotated.total == 1 && rotated.unmatched == 1, "under another key it is one that no longer matches")
            let removed = try await harness.database.pool.withConnection { connection in
                try await connection.transaction { try await forgotten.remove("zoe@example.com", on: $0) }
            }
            #expect(removed)
            #expect(try await forgotten.contains("zoe@example.com") == false)
            #expect(try await forgotten.count().total == 0)
        }
    }
}

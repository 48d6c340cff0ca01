import Foundation
import ListService
import PropertyBased
import Testing

@Suite("Tokens")
struct TokenTests {
    static let secretA = "Xq3vN8pL2mR7tY1wK9sD4fG6hJ0zC5bV8nM2qW7eR3tY"
    static let secretB = "aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2yZ3aB4cD5"

    static func secrets(_ values: String...) throws -> TokenSecrets { try TokenSecrets(values) }

    @Test("round trip for every purpose and id size, with and without an issue")
    func roundTrip() throws {
        let secrets = try Self.secrets(Self.secretA)
        let ids: [Int64] = [0, 1, 127, 128, 16_383, 16_384, 1 << 32, Int64.max - 1, Int64.max]
        for purpose in TokenPurpose.known + [TokenPurpose(rawValue: 200)] {
            for id in ids {
                for issue in [nil, 0, id] as [Int64?] {
                    let token = SubscriberToken(purpose: purpose, listID: id, subscriberID: Int64.max - id, issueID: issue)
                    let text = token.encode(with: secrets)
                    #expect(text.count <= 70)
                    #expect(text.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
                    let back = try SubscriberToken.verify(text, purpose: purpose, secrets: secrets)
                    #expect(back.purpose == purpose && back.listID == id && back.subscriberID == Int64.max - id)
                    #expect(back.issueID == issue)
                    #expect(back.keyID == secrets.current.id)
                }
            }
        }
    }

    @Test("a typical token is short")
    func typicalLength() throws {
        let token = SubscriberToken(purpose: .unsubscribe, listID: 12, subscriberID: 1_234_567, issueID: 4_321)
        #expect(token.encode(with: try Self.secrets(Self.secretA)).count == 38)  // 28 bytes
    }

    @Test("flipping any bit of a token, or truncating or extending it, makes it fail")
    func tamper() async throws {
        let secrets = try Self.secrets(Self.secretA)
        let ids = Gen<Int64>.int64(in: 0...Int64.max)
        await propertyCheck(count: 300, input: ids, ids, Gen.int(in: 0...4), Gen.int(in: 0...10_000)) { list, subscriber, purposeIndex, pick in
            let purpose = TokenPurpose.known[purposeIndex % TokenPurpose.known.count]
            let issue: Int64? = purposeIndex == 4 ? nil : list / 3
            let text = SubscriberToken(purpose: purpose, listID: list, subscriberID: subscriber, issueID: issue).encode(with: secrets)
            let bytes = try #require(Self.decode(text))
            // One bit of the decoded bytes.
            var flipped = bytes
            let bit = pick % (bytes.count * 8)
            flipped[bit / 8] ^= 1 << UInt8(bit % 8)
            #expect(throws: TokenError.self) { try SubscriberToken.verify(Self.encode(flipped), purpose: purpose, secrets: secrets) }
            // Any one character of the text replaced.
            var characters = Array(text)
            let position = pick % characters.count
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/.")
            var replacement = alphabet[pick % alphabet.count]
            if replacement == characters[position] { replacement = "." }
            characters[position] = replacement
            #expect(throws: TokenError.self) { try SubscriberToken.verify(String(characters), purpose: purpose, secrets: secrets) }
            // Truncated, or with a byte added.
            let cut = pick % bytes.count
            #expect(throws: TokenError.self) { try SubscriberToken.verify(Self.encode(Array(bytes.prefix(cut))), purpose: purpose, secrets: secrets) }
            #expect(throws: TokenError.self) { try SubscriberToken.verify(String(text.dropLast(1 + cut % 5)), purpose: purpose, secrets: secrets) }
            #expect(throws: TokenError.self) { try SubscriberToken.verify(Self.encode(bytes + [UInt8(pick & 0xFF)]), purpose: purpose, secrets: secrets) }
        }
    }

    @Test("the typed errors: wrong purpose, version, key, signature, malformed")
    func errors() throws {
        let secrets = try Self.secrets(Self.secretA)
        let text = SubscriberToken(purpose: .unsubscribe, listID: 1, subscriberID: 2, issueID: 3).encode(with: secrets)
        #expect(throws: TokenError(code: .wrongPurpose, message: "the link is a unsubscribe link, not a confirm link")) {
            try SubscriberToken.verify(text, purpose: .confirm, secrets: secrets)
        }
        var bytes = try #require(Self.decode(text))
        bytes[0] = 2
        #expect(Self.code { try SubscriberToken.verify(Self.encode(bytes), purpose: .unsubscribe, secrets: secrets) } == .unsupportedVersion)
        bytes[0] = 1
        bytes[1] = TokenPurpose.confirm.rawValue  // re-labelled: the MAC no longer matches
        #expect(Self.code { try SubscriberToken.verify(Self.encode(bytes), purpose: .confirm, secrets: secrets) } == .badSignature)
        let other = try Self.secrets(Self.secretB)
        #expect(Self.code { try SubscriberToken.verify(text, purpose: .unsubscribe, secrets: other) } == .unknownKey)
        for bad in ["", "A", "AQAA", text + "=", "!" + text.dropFirst(), String(repeating: "A", count: 5000)] {
            #expect(Self.code { try SubscriberToken.verify(bad, purpose: .unsubscribe, secrets: secrets) } == .malformed)
        }
        // A non-minimal varint (1 written as 0x81 0x00) is refused even before the MAC.
        let padded = [UInt8(1), 1, 0x81, 0x00] + Array(bytes[3...])
        #expect(Self.code { try SubscriberToken.verify(Self.encode(padded), purpose: .unsubscribe, secrets: secrets) } == .malformed)
    }

    @Test("rotation: the old secret verifies while listed second, and not once removed")
    func rotation() throws {
        let old = try Self.secrets(Self.secretA)
        let text = SubscriberToken(purpose: .preferences, listID: 5, subscriberID: 6).encode(with: old)
        let rotated = try TokenSecrets.parse("# rotated\n\(Self.secretB)\n\n\(Self.secretA)\n", source: "secret")
        #expect(rotated.current.id != old.current.id)
        let token = try SubscriberToken.verify(text, purpose: .preferences, secrets: rotated)
        #expect(token.keyID == old.current.id && token.keyID != rotated.current.id)
        let fresh = SubscriberToken(purpose: .preferences, listID: 5, subscriberID: 6).encode(with: rotated)
        #expect(fresh != text)
        #expect(try SubscriberToken.verify(fresh, purpose: .preferences, secrets: rotated).keyID == rotated.current.id)
        let retired = try Self.secrets(Self.secretB)
        #expect(Self.code { try SubscriberToken.verify(text, purpose: .preferences, secrets: retired) } == .unknownKey)
    }

    @Test("secret files: comments and blank lines ignored; a weak secret is refused naming file and line")
    func secretFile() throws {
        let parsed = try TokenSecrets.parse("\n# current\n  \(Self.secretA)  \n\n# previous\n\(Self.secretB)\n", source: "/etc/listctl/secret")
        #expect(parsed.keys.count == 2)
        #expect(parsed.current.id == (try Self.secrets(Self.secretA)).current.id)
        #expect(!parsed.description.contains(Self.secretA) && !parsed.description.contains(Self.secretB))
        let short = Self.error { _ = try TokenSecrets.parse("# c\n\(Self.secretA)\n\ntooshort\n", source: "/etc/listctl/secret") }
        #expect(short?.code == .configuration)
        #expect(short?.message.hasPrefix("/etc/listctl/secret:4: the token secret is too short (8 characters; at least 43 needed)") == true)
        #expect(short?.message.contains("listctl secret generate") == true)
        let placeholder = Self.error { _ = try TokenSecrets.parse(String(repeating: "changeme", count: 8), source: "f") }
        #expect(placeholder?.message.hasPrefix("f:1: the token secret looks like a placeholder") == true)
        let empty = Self.error { _ = try TokenSecrets.parse("# nothing here\n\n", source: "f") }
        #expect(empty?.message.hasPrefix("f: no secret in the file") == true)
        #expect(Self.error { _ = try TokenSecrets([]) }?.code == .configuration)
        #expect(Self.error { _ = try TokenSecrets.read(file: "/nonexistent/secret") }?.message.hasPrefix("/nonexistent/secret: cannot read") == true)
    }

    @Test("generated secrets are accepted, 43 characters, and differ")
    func generate() throws {
        let a = try TokenSecrets.generate()
        let b = try TokenSecrets.generate()
        #expect(a.count == 43 && a != b)
        _ = try TokenSecrets([a, b])
    }

    @Test("configuration: LISTCTL_SECRET or LISTCTL_SECRET_FILE, not both")
    func configuration() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        let file = home.appendingPathComponent("mounted")
        try "\(Self.secretB)\n\(Self.secretA)\n".write(to: file, atomically: true, encoding: .utf8)
        let external = "postgresql://db.example.org/list"
        let fromEnv = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path, "LISTCTL_SECRET": Self.secretA, "DATABASE_URL": external])
        #expect(try TokenSecrets.load(fromEnv).secrets.current.id == (try Self.secrets(Self.secretA)).current.id)
        let fromFile = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path, "LISTCTL_SECRET_FILE": file.path, "DATABASE_URL": external])
        let loaded = try TokenSecrets.load(fromFile)
        #expect(loaded.secrets.keys.count == 2 && loaded.notice == nil)
        let both = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path, "LISTCTL_SECRET": Self.secretA, "LISTCTL_SECRET_FILE": file.path])
        #expect(Self.error { _ = try TokenSecrets.load(both) }?.message.contains("both LISTCTL_SECRET and LISTCTL_SECRET_FILE") == true)
        #expect(!FileManager.default.fileExists(atPath: home.appendingPathComponent("secret").path))
    }

    @Test("embedded default: LISTCTL_HOME/secret is created once, mode 0600, announced, then reused")
    func embeddedDefault() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)/home")
        defer { try? FileManager.default.removeItem(at: home.deletingLastPathComponent()) }
        let configuration = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path])
        let first = try TokenSecrets.load(configuration)
        let path = home.appendingPathComponent("secret").path
        #expect(first.notice?.contains("created a token secret in \(path) (mode 0600)") == true)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let second = try TokenSecrets.load(configuration)
        #expect(second.notice == nil)
        #expect(second.secrets.current.id == first.secrets.current.id)
        let text = SubscriberToken(purpose: .confirm, listID: 1, subscriberID: 1).encode(with: first.secrets)
        _ = try SubscriberToken.verify(text, purpose: .confirm, secrets: second.secrets)
        let contents = try FileManager.default.contentsOfDirectory(atPath: home.path)
        #expect(contents == ["secret"])
    }

    @Test("an external database with no secret is refused, saying how to make one")
    func externalRefusal() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let configuration = ListctlConfiguration.fromEnvironment(["LISTCTL_HOME": home.path, "DATABASE_URL": "postgresql://db.example.org/list"])
        let error = Self.error { _ = try TokenSecrets.load(configuration) }
        #expect(error?.code == .configuration)
        #expect(error?.message.hasPrefix("no token secret is set, and DATABASE_URL names an external database") == true)
        #expect(error?.message.contains("listctl secret generate > /etc/listctl/secret && chmod 600 /etc/listctl/secret") == true)
        #expect(error?.message.contains("LISTCTL_SECRET_FILE=/etc/listctl/secret") == true)
        #expect(!FileManager.default.fileExists(atPath: home.path))
    }

    // MARK: helpers

    static func code(_ body: () throws -> SubscriberToken) -> TokenError.Code? {
        do {
            _ = try body()
            return nil
        } catch {
            return (error as? TokenError)?.code
        }
    }

    static func error(_ body: () throws -> Void) -> ListServiceError? {
        do {
            try body()
            return nil
        } catch {
            return error as? ListServiceError
        }
    }

    static func decode(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { Array($0) }
    }

    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

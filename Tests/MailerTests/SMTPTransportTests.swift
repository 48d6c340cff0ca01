import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Mailer
import Testing

/// Against the aiosmtpd servers that scripts/test-servers.sh starts.
@Suite("SMTP transport")
struct SMTPTransportTests {
    static func server(_ variable: String) throws -> String { try TransportTestSupport.environment(variable) }

    /// `user:password@` with the password percent-encoded (it has @ : / %).
    static func credentials(password: String? = nil) throws -> String {
        let user = try TransportTestSupport.environment("LISTCTL_TEST_SMTP_USER")
        let secret = try password ?? TransportTestSupport.environment("LISTCTL_TEST_SMTP_PASSWORD")
        let encoded = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? secret
        return "\(user):\(encoded)@"
    }

    static func cafile() throws -> String { try TransportTestSupport.environment("LISTCTL_TEST_SMTP_CAFILE") }

    static func transport(_ url: String) throws -> any MailTransport {
        try TransportConfiguration.parse(url).makeTransport()
    }

    /// A message with a unique Message-ID, a line starting with a dot (dot
    /// stuffing) and 8-bit text.
    static func message(to recipient: String = "reader@example.net", size: Int = 0) -> OutgoingMessage {
        let id = "\(UUID().uuidString.lowercased())@example.org"
        var body = "Hello.\r\n.leading dot\r\n..two dots\r\nGrüße\r\n"
        if size > 0 { body += String(repeating: String(repeating: "x", count: 76) + "\r\n", count: size / 78) }
        let data = TransportTestSupport.message(to: recipient, body: body, messageID: id)
        return OutgoingMessage(envelopeFrom: "bounces@example.org", recipient: recipient, data: data, messageID: id)
    }

    struct Stored {
        var data: [UInt8]
        var meta: [String: Any]
        var peer: String { meta["peer"] as? String ?? "" }
    }

    /// The message the server stored, waiting briefly for the file.
    static func stored(_ mode: String, _ message: OutgoingMessage) throws -> Stored {
        let spool = try TransportTestSupport.environment("LISTCTL_TEST_SMTP_SPOOL")
        let base = URL(fileURLWithPath: spool).appendingPathComponent(mode).appendingPathComponent(message.messageID)
        for _ in 0..<50 {
            if let meta = FileManager.default.contents(atPath: base.path + ".json"),
                let data = FileManager.default.contents(atPath: base.path + ".eml")
            {
                let object = try JSONSerialization.jsonObject(with: meta) as? [String: Any] ?? [:]
                return Stored(data: Array(data), meta: object)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw TransportTestSupport.MissingEnvironment(name: "stored message \(message.messageID) in \(mode)")
    }

    @Test("plain: many messages arrive intact over few reused connections")
    func plainReuse() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_PLAIN")
        let transport = try Self.transport("smtp://\(server)?tls=none&connections=2")
        let messages = (0..<24).map { _ in Self.message(size: 3000) }
        try await withThrowingTaskGroup(of: TransportReceipt.self) { group in
            for message in messages { group.addTask { try await transport.send(message) } }
            for try await receipt in group { #expect(receipt.code == 250) }
        }
        await transport.close()
        var peers = Set<String>()
        for message in messages {
            let stored = try Self.stored("plain", message)
            let intact = stored.data == message.data
        #expect(intact, "the message must arrive byte for byte (dot stuffing undone)")
            #expect(stored.meta["mail_from"] as? String == "bounces@example.org")
            #expect(stored.meta["rcpt_tos"] as? [String] == ["reader@example.net"])
            peers.insert(stored.peer)
        }
        #expect(peers.count <= 2, "24 messages over 2 connections used \(peers.count) SMTP sessions")
    }

    @Test("STARTTLS with the test CA; refused without it; verify=false skips the check")
    func startTLS() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_STARTTLS")
        let trusted = try Self.transport("smtp://\(server)?cafile=\(try Self.cafile())")
        let message = Self.message()
        _ = try await trusted.send(message)
        await trusted.close()
        let intact = try Self.stored("starttls", message).data == message.data
        #expect(intact)

        let untrusted = try Self.transport("smtp://\(server)")
        await #expect { try await untrusted.send(Self.message()) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.code == .tls && error.classification == .permanent
        }
        await untrusted.close()

        let unverified = try Self.transport("smtp://\(server)?verify=false")
        _ = try await unverified.send(Self.message())
        await unverified.close()
    }

    @Test("smtp:// refuses to send in clear when the server offers no STARTTLS")
    func startTLSRequired() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_PLAIN")
        let transport = try Self.transport("smtp://\(server)")
        await #expect { try await transport.send(Self.message()) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.code == .tls && error.classification == .permanent && error.message.contains("STARTTLS")
        }
        await transport.close()
    }

    @Test("AUTH after STARTTLS; a wrong password is a clear permanent error without the password")
    func authentication() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_AUTH")
        let cafile = try Self.cafile()
        let transport = try Self.transport("smtp://\(try Self.credentials())\(server)?cafile=\(cafile)")
        let message = Self.message()
        _ = try await transport.send(message)
        await transport.close()
        #expect(try Self.stored("auth", message).meta["auth_user"] as? String == (try TransportTestSupport.environment("LISTCTL_TEST_SMTP_USER")))

        let wrong = "WrongPassw0rd-xyz"
        let denied = try Self.transport("smtp://\(try Self.credentials(password: wrong))\(server)?cafile=\(cafile)")
        await #expect { try await denied.send(Self.message()) } throws: { error in
            let error = try #require(error as? TransportError)
            let text = "\(error)"
            return error.code == .authenticationFailed && error.classification == .permanent
                && text.contains("authentication failed for user listctl-test at \(server)") && !text.contains(wrong)
        }
        await denied.close()

        // No credentials where the server demands them: the server's 530 is permanent.
        let anonymous = try Self.transport("smtp://\(server)?cafile=\(cafile)")
        await #expect { try await anonymous.send(Self.message()) } throws: { error in
            (error as? TransportError)?.classification == .permanent
        }
        await anonymous.close()
    }

    @Test("smtps:// (TLS from the first byte)")
    func smtps() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTPS")
        let transport = try Self.transport("smtps://\(server)?cafile=\(try Self.cafile())")
        let message = Self.message()
        _ = try await transport.send(message)
        await transport.close()
        let intact = try Self.stored("smtps", message).data == message.data
        #expect(intact)
    }

    @Test("421, 451, 550, a dropped connection and a silent server are classified; the transport recovers")
    func failures() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_MISBEHAVE")
        let transport = try Self.transport("smtp://\(server)?tls=none&connections=1&timeout=2")
        func failure(_ local: String) async -> TransportError? {
            do {
                _ = try await transport.send(Self.message(to: "\(local)@example.net"))
                return nil
            } catch { return error }
        }
        let temp = try #require(await failure("tempfail"))
        #expect(temp.classification == .temporary && temp.smtpCode == 451 && temp.code == .recipientRejected)
        #expect(temp.serverText?.contains("451 4.3.0") == true, "\(temp)")

        let reject = try #require(await failure("reject"))
        #expect(reject.classification == .permanent && reject.smtpCode == 550 && reject.code == .recipientRejected)
        #expect(reject.serverText?.contains("No such user") == true)

        // A refused sender is not the recipient's fault: never a reason to suppress them.
        var blocked = Self.message()
        blocked.envelopeFrom = "blocked@example.org"
        await #expect { try await transport.send(blocked) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.code == .rejected && error.classification == .permanent && error.smtpCode == 553
        }

        let shutdown = try #require(await failure("shutdown"))
        #expect(shutdown.classification == .temporary && shutdown.smtpCode == 421)

        // The whole message, final "." included, reached the server, which hung up without a verdict.
        let dropped = try #require(await failure("drop"))
        #expect(dropped.classification == .unknown && dropped.isOutcomeUnknown && !dropped.isTemporary, "\(dropped)")
        #expect(dropped.code == .connectionFailed || dropped.code == .protocolError, "\(dropped)")

        // The whole message sent, and the verdict comes after the timeout.
        let late = try #require(await failure("late"))
        #expect(late.classification == .unknown && late.code == .timeout, "\(late)")

        let slow = try #require(await failure("slow"))
        #expect(slow.classification == .temporary && slow.code == .timeout, "\(slow)")

        // Same transport, same single connection slot: the next message goes through.
        let message = Self.message()
        _ = try await transport.send(message)
        let intact = try Self.stored("misbehave", message).data == message.data
        #expect(intact)
        await transport.close()
    }

    @Test("a server that never greets times out; a closed port is refused; both temporary")
    func connectFailures() async throws {
        // A socket that listens but never accepts: the kernel completes the
        // handshake, then no greeting ever comes.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0, listen(fd, 8) == 0, getsockname(fd, raw, &length) == 0 else {
                    throw TransportTestSupport.MissingEnvironment(name: "a listening socket")
                }
            }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        let silent = try Self.transport("smtp://127.0.0.1:\(port)?tls=none&timeout=1")
        let started = ContinuousClock.now
        await #expect { try await silent.send(Self.message()) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.code == .timeout && error.classification == .temporary
        }
        // timeout=1 applies (the default would wait 60 s); generous, since
        // CPU-heavy suites running in parallel can delay the resumption.
        #expect(ContinuousClock.now - started < .seconds(45))
        await silent.close()

        let refused = try Self.transport("smtp://127.0.0.1:9?tls=none&connect_timeout=2")
        await #expect { try await refused.send(Self.message()) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.code == .connectionFailed && error.classification == .temporary
        }
        await refused.close()
    }

    @Test("a connection reset mid-DATA is temporary: the end of the message never arrived")
    func dropMidData() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_MIDDATA")
        let transport = try Self.transport("smtp://\(server)?tls=none&connections=1&timeout=5")
        // Far more than the server reads (256 KB) plus what the sockets can buffer.
        await #expect { try await transport.send(Self.message(size: 24 << 20)) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.classification == .temporary && error.code == .connectionFailed
        }
        await transport.close()
    }

    @Test("a TLS handshake reset by the server (smtps://) is temporary, not permanent")
    func tlsHandshakeReset() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_HANGUP")
        let transport = try Self.transport("smtps://\(server)?cafile=\(try Self.cafile())&timeout=5")
        await #expect { try await transport.send(Self.message()) } throws: { error in
            let error = try #require(error as? TransportError)
            return error.classification == .temporary
        }
        await transport.close()
    }

    @Test("a closed transport refuses new work")
    func closed() async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_PLAIN")
        let transport = try Self.transport("smtp://\(server)?tls=none")
        await transport.close()
        await #expect(throws: TransportError.self) { try await transport.send(Self.message()) }
    }

    @Test("DKIM-signed over SMTP verifies at the receiving end", arguments: [DKIMKey.Algorithm.rsaSHA256, .ed25519SHA256])
    func dkimOverSMTP(algorithm: DKIMKey.Algorithm) async throws {
        let server = try Self.server("LISTCTL_TEST_SMTP_PLAIN")
        let key = algorithm == .rsaSHA256 ? DKIMTests.rsaKey : DKIMTests.edKey
        let signer = DKIMSigner(domain: "example.org", selector: "s1", key: key)
        let transport = try TransportConfiguration.parse("smtp://\(server)?tls=none").makeTransport(signer: signer)
        let message = Self.message(size: 20_000)
        _ = try await transport.send(message)
        await transport.close()
        let stored = try Self.stored("plain", message)
        let head = String(decoding: stored.data.prefix(60), as: UTF8.self)
        #expect(head.hasPrefix("DKIM-Signature: v=1; a=\(algorithm.rawValue); c=relaxed/relaxed;"), "\(head)")
        let result = try DKIMTests().verify(stored.data, key: key)
        #expect(result.ok, "dkimpy said: \(result.output)")
    }
}

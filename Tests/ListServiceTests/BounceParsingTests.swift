import Foundation
@testable import ListService
import Testing

/// The MIME parser and the report reader on awkward input, no database.
@Suite("Bounce parsing: MIME, DSN, ARF, mbox")
struct BounceParsingTests {
    static func bytes(_ text: String, crlf: Bool = false) -> [UInt8] {
        Array((crlf ? text.replacingOccurrences(of: "\n", with: "\r\n") : text).utf8)
    }

    static let dsn = """
        From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
        To: bounces+TOKENTOKENTOKENTOKENTOKENTOKENTOKEN12@example.org
        Subject: Undelivered Mail Returned to Sender
        Content-Type: multipart/report; report-type=delivery-status;
        \tboundary="B0UND/ary=1"

        This is a MIME-encapsulated message.

        --B0UND/ary=1
        Content-Type: text/plain

        I'm sorry to have to inform you that your message could not be delivered.
        --B0UND/ary=1
        Content-Type: message/delivery-status

        Reporting-MTA: dns; mx.example.net
        X-Postfix-Queue-ID: 4Q2X1

        Final-Recipient: rfc822; bob@example.net
        Original-Recipient: rfc822;bob@example.net
        Action: failed
        Status: 5.1.1
        Diagnostic-Code: smtp; 550 5.1.1 <bob@example.net>: Recipient address
            rejected: User unknown in virtual mailbox table

        --B0UND/ary=1
        Content-Type: text/rfc822-headers

        Message-ID: <listctl.3.1.abcdefghijklmnopqrstuv@example.org>
        X-Listctl-Trace: 3.2.1
        Subject: Issue 3
        --B0UND/ary=1--
        """

    // MARK: MIME

    @Test("folded headers are unfolded; CRLF and LF give the same entity; a boundary with / and = quoted")
    func foldedAndLineEnds() throws {
        for crlf in [false, true] {
            let entity = try MIMEEntity.parse(Self.bytes(Self.dsn, crlf: crlf))
            #expect(entity.mediaType == "multipart/report")
            #expect(entity.contentTypeParameter("boundary") == "B0UND/ary=1")
            #expect(entity.contentTypeParameter("REPORT-TYPE") == "delivery-status")
            #expect(entity.parts.map(\.mediaType) == ["text/plain", "message/delivery-status", "text/rfc822-headers"])
            #expect(entity.field("from") == "MAILER-DAEMON@mx.example.net (Mail Delivery System)")
            let status = try BounceMessageReader.fieldGroups(entity.parts[1].decodedBody())
            #expect(status.count == 2)
            #expect(BounceMessageReader.value("Diagnostic-Code", in: status[1])
                == "smtp; 550 5.1.1 <bob@example.net>: Recipient address    rejected: User unknown in virtual mailbox table")
            // The line break before a delimiter belongs to it.
            #expect(String(decoding: entity.parts[0].body, as: UTF8.self).hasSuffix("could not be delivered."))
        }
    }

    @Test("a multipart without a boundary parameter, or whose body never uses it: missingBoundary, saying which part")
    func missingBoundary() throws {
        let noParameter = "Content-Type: multipart/report; report-type=delivery-status\n\n--x\n\n--x--\n"
        let error = #expect(throws: MIMEError.self) { try MIMEEntity.parse(Self.bytes(noParameter)) }
        #expect(error?.code == .missingBoundary && error?.message.contains("no boundary parameter") == true, "\(String(describing: error))")

        let unused = "Content-Type: multipart/mixed; boundary=abc\n\nno delimiter line at all\n"
        let error2 = #expect(throws: MIMEError.self) { try MIMEEntity.parse(Self.bytes(unused)) }
        #expect(error2?.code == .missingBoundary && error2?.message.contains("--abc") == true)

        // Nested: the error names the part.
        let nested = "Content-Type: multipart/mixed; boundary=outer\n\n--outer\nContent-Type: multipart/alternative\n\nx\n--outer--\n"
        let error3 = #expect(throws: MIMEError.self) { try MIMEEntity.parse(Self.bytes(nested)) }
        #expect(error3?.message.hasPrefix("part 1: multipart/alternative has no boundary") == true, "\(String(describing: error3))")
    }

    @Test("a file cut short inside a multipart: truncated, with the delimiter it lacks")
    func truncated() throws {
        let cut = String(Self.dsn.prefix(Self.dsn.count - 40))
        let error = #expect(throws: MIMEError.self) { try BounceMessageReader.read(Self.bytes(cut)) }
        #expect(error?.code == .truncated && error?.message.contains("--B0UND/ary=1--") == true, "\(String(describing: error))")
        #expect(throws: MIMEError.self) { try BounceMessageReader.read(Self.bytes("")) }
        #expect(throws: MIMEError.self) { try BounceMessageReader.read(Self.bytes("\r\n\r\n")) }
    }

    @Test("nested multiparts (Gmail's report: multipart/related > multipart/alternative first) are found depth-first")
    func nested() throws {
        let text = """
            Content-Type: multipart/report; boundary="000a"; report-type=delivery-status

            --000a
            Content-Type: multipart/related; boundary="000b"

            --000b
            Content-Type: multipart/alternative; boundary="000c"

            --000c
            Content-Type: text/plain; charset="UTF-8"

            Address not found
            --000c
            Content-Type: text/html; charset="UTF-8"

            <p>Address not found</p>
            --000c--
            --000b
            Content-Type: image/png; name="icon.png"
            Content-Transfer-Encoding: base64

            iVBORw0KGgo=
            --000b--
            --000a
            Content-Type: message/delivery-status

            Reporting-MTA: dns; googlemail.com

            Final-Recipient: rfc822; cat@example.net
            Action: failed
            Status: 5.1.1

            --000a--
            """
        let entity = try MIMEEntity.parse(Self.bytes(text, crlf: true))
        #expect(entity.parts[0].parts[0].parts.map(\.mediaType) == ["text/plain", "text/html"])
        #expect(try entity.parts[0].parts[1].decodedBody() == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        guard case .delivery(let notices) = try BounceMessageReader.read(entity) else { Issue.record("not a DSN"); return }
        #expect(notices.map(\.recipient) == ["cat@example.net"] && notices[0].kind == .hardBounce)
    }

    @Test("a header line that is not Name: value, or a continuation with nothing before it: badHeader with the line number")
    func badHeaders() throws {
        let error = #expect(throws: MIMEError.self) { try MIMEEntity.parse(Self.bytes("Subject: x\nthis is not a field\n\nbody")) }
        #expect(error?.code == .badHeader && error?.message.contains("header line 2") == true, "\(String(describing: error))")
        let error2 = #expect(throws: MIMEError.self) { try MIMEEntity.parse(Self.bytes(" folded: first\n\nbody")) }
        #expect(error2?.message.contains("continuation") == true)
        // Headers only, no body: fine.
        #expect(try MIMEEntity.parse(Self.bytes("Message-ID: <a@b>\nX-Listctl-Trace: 1.2.3")).field("x-listctl-trace") == "1.2.3")
    }

    @Test("base64 and quoted-printable report parts are decoded; bad base64 is an error")
    func encodings() throws {
        let status = "Reporting-MTA: dns; mx.example.net\r\n\r\nFinal-Recipient: rfc822; dan@example.net\r\nAction: delayed\r\nStatus: 4.2.2\r\n"
        let base64 = Data(status.utf8).base64EncodedString(options: [.lineLength64Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        let message = """
            Content-Type: multipart/report; report-type=delivery-status; boundary=b

            --b
            Content-Type: message/delivery-status
            Content-Transfer-Encoding: base64

            \(base64)
            --b
            Content-Type: message/rfc822
            Content-Transfer-Encoding: quoted-printable

            Message-ID: <listctl.9.1.abcdefghijklmnopqrstuv@example.org>
            X-Listctl-Trace: 9.4=
            .1
            Subject: caf=C3=A9

            body
            --b--
            """
        guard case .delivery(let notices) = try BounceMessageReader.read(Self.bytes(message)) else { Issue.record("not a DSN"); return }
        #expect(notices.count == 1 && notices[0].kind == .softBounce && notices[0].recipient == "dan@example.net")
        #expect(notices[0].trace == "9.4.1", "a soft line break joins the field")
        #expect(notices[0].messageID == "<listctl.9.1.abcdefghijklmnopqrstuv@example.org>")
        #expect(MIMEEntity.decodeQuotedPrintable(Self.bytes("caf=C3=A9 =3D=\nx =ZZ\n")) == Self.bytes("café =x =ZZ\r\n"))

        let bad = MIMEEntity(fields: [.init(name: "Content-Transfer-Encoding", value: "base64")], body: Self.bytes("abc*def"), parts: [])
        let error = #expect(throws: MIMEError.self) { try bad.decodedBody() }
        #expect(error?.code == .badEncoding && error?.message.contains("0x2a") == true)
        let unknown = MIMEEntity(fields: [.init(name: "Content-Transfer-Encoding", value: "x-uuencode")], body: [], parts: [])
        #expect(throws: MIMEError.self) { try unknown.decodedBody() }
    }

    @Test("too deep a nesting is refused, not recursed into")
    func tooDeep() throws {
        var text = ""
        for level in 0...20 { text += "Content-Type: multipart/mixed; boundary=l\(level)\n\n--l\(level)\n" }
        text += "\nx\n"
        for level in (0...20).reversed() { text += "--l\(level)--\n" }
        let error = #expect(throws: MIMEError.self) { try MIMEEntity.parse(Self.bytes(text)) }
        #expect(error?.code == .tooDeep)
    }

    // MARK: Reports

    @Test("DSN fields: recipient, kind, the original's Message-ID and trace, the VERP token of the envelope To, the diagnostic")
    func dsnFields() throws {
        guard case .delivery(let notices) = try BounceMessageReader.read(Self.bytes(Self.dsn)) else { Issue.record("not a DSN"); return }
        let notice = try #require(notices.first)
        #expect(notice.kind == .hardBounce && notice.source == "dsn" && notice.recipient == "bob@example.net")
        #expect(notice.messageID == "<listctl.3.1.abcdefghijklmnopqrstuv@example.org>" && notice.trace == "3.2.1")
        #expect(notice.verpToken == "TOKENTOKENTOKENTOKENTOKENTOKENTOKEN12")
        #expect(notice.detail.hasPrefix("Status 5.1.1 (Action failed): 550 5.1.1 <bob@example.net>: Recipient address"), "\(notice.detail)")
        #expect(notice.detail.contains("[reported by mx.example.net]"))
    }

    @Test("status classes: 5.x.x hard but 5.2.2 (mailbox full) soft; 4.x.x and delayed soft; delivered is no bounce")
    func statusClasses() throws {
        func kinds(_ groups: String) throws -> BounceMessage {
            try BounceMessageReader.read(Self.bytes("""
                Content-Type: multipart/report; report-type=delivery-status; boundary=b

                --b
                Content-Type: message/delivery-status

                Reporting-MTA: dns; mx.example.net

                \(groups)
                --b--
                """))
        }
        guard case .delivery(let mixed) = try kinds("""
            Final-Recipient: rfc822; a@example.net
            Action: failed
            Status: 5.2.2 (mailbox full)

            Final-Recipient: rfc822; b@example.net
            Action: failed
            Status: 5.1.10

            Final-Recipient: rfc822; c@example.net
            Action: delayed
            Status: 4.4.7

            Final-Recipient: rfc822; d@example.net
            Action: delivered
            Status: 2.0.0
            """) else { Issue.record("not a DSN"); return }
        #expect(mixed.map(\.recipient) == ["a@example.net", "b@example.net", "c@example.net"])
        #expect(mixed.map(\.kind) == [.softBounce, .hardBounce, .softBounce])
        guard case .unrecognised(let reason) = try kinds("Final-Recipient: rfc822; d@example.net\nAction: delivered\nStatus: 2.0.0")
        else { Issue.record("a success DSN was taken for a bounce"); return }
        #expect(reason.contains("Action delivered"))
        guard case .unrecognised(let why) = try kinds("Final-Recipient: rfc822; d@example.net\nAction: failed\nStatus: five")
        else { Issue.record("a failed DSN without a status was taken for a bounce"); return }
        #expect(why.contains("without a Status"))
    }

    @Test("ARF: abuse is a complaint with the original's fields; not-spam and auth-failure are not")
    func arf() throws {
        func report(_ type: String) throws -> BounceMessage {
            try BounceMessageReader.read(Self.bytes("""
                From: staff@hotmail.com
                To: fbl@example.org
                Content-Type: multipart/report; report-type=feedback-report; boundary="arf"

                --arf
                Content-Type: text/plain

                This is an email abuse report.
                --arf
                Content-Type: message/feedback-report

                Feedback-Type: \(type)
                User-Agent: Hotmail FBL
                Version: 1
                Original-Rcpt-To: <eve@example.net>

                --arf
                Content-Type: message/rfc822

                Return-Path: <bounces+TOKENTOKENTOKENTOKENTOKENTOKENTOKEN12@example.org>
                Message-ID: <listctl.4.1.abcdefghijklmnopqrstuv@example.org>
                X-Listctl-Trace: 4.5.1
                To: Eve <eve@example.net>

                Hello
                --arf--
                """, crlf: true))
        }
        guard case .complaint(let notice) = try report("abuse") else { Issue.record("not a complaint"); return }
        #expect(notice.kind == .complaint && notice.source == "arf" && notice.recipient == "eve@example.net")
        #expect(notice.trace == "4.5.1" && notice.verpToken == "TOKENTOKENTOKENTOKENTOKENTOKENTOKEN12")
        #expect(notice.detail == "Feedback-Type abuse from Hotmail FBL")
        for type in ["not-spam", "auth-failure"] {
            guard case .unrecognised(let reason) = try report(type) else { Issue.record("\(type) taken for a complaint"); continue }
            #expect(reason.contains(type))
        }
    }

    @Test("mailto unsubscribe: Subject `unsubscribe TOKEN` (any case, Re:); other subjects and plain mail unrecognised")
    func mailto() throws {
        let token = String(repeating: "Ab3_-", count: 8)
        guard case .unsubscribe(let found, let from) = try BounceMessageReader.read(
            Self.bytes("From: someone@example.com\nSubject: UNSUBSCRIBE \(token)\n\n"))
        else { Issue.record("not an unsubscribe"); return }
        #expect(found == token && from == "someone@example.com")
        guard case .unsubscribe = try BounceMessageReader.read(Self.bytes("Subject: Re: unsubscribe \(token)\n\n")) else {
            Issue.record("Re: not tolerated"); return
        }
        for subject in ["unsubscribe", "unsubscribe me please", "unsubscribe \(token)!", "hello"] {
            guard case .unrecognised = try BounceMessageReader.read(Self.bytes("Subject: \(subject)\n\nplease")) else {
                Issue.record("\(subject) taken for an unsubscribe"); continue
            }
        }
    }

    // MARK: Mailboxes

    @Test("mbox: split at From lines after an empty line, >From unquoted, numbered from 1; a From in a body line stays")
    func mbox() throws {
        let text = """
            From MAILER-DAEMON Thu Dec  3 09:00:00 2026
            Subject: one

            >From the start
            From here on (not after an empty line, so not a separator)

            From MAILER-DAEMON Thu Dec  3 09:01:00 2026
            Subject: two

            body two

            From MAILER-DAEMON Thu Dec  3 09:02:00 2026
            Subject: three

            """
        let mails = MailboxReader.mbox(Self.bytes(text), file: "box")
        #expect(mails.map(\.number) == [1, 2, 3])
        #expect(mails.map(\.label) == ["box#1", "box#2", "box#3"])
        #expect(String(decoding: mails[0].bytes, as: UTF8.self)
            == "Subject: one\n\nFrom the start\nFrom here on (not after an empty line, so not a separator)\n")
        #expect(String(decoding: mails[1].bytes, as: UTF8.self) == "Subject: two\n\nbody two\n")
    }

    @Test("unreadable paths: missing, a folder that is no Maildir; each says which and why")
    func unreadable() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bounces-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("missing.eml").path
        let error = #expect(throws: BounceIngestError.self) { try MailboxReader.read(missing) }
        #expect(error?.message == "\(missing): no such file or folder")
        let error2 = #expect(throws: BounceIngestError.self) { try MailboxReader.read(folder.path) }
        #expect(error2?.message.contains("not a Maildir") == true)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("new"), withIntermediateDirectories: true)
        try "Subject: x\n\n".write(to: folder.appendingPathComponent("new/1.a"), atomically: true, encoding: .utf8)
        try "Subject: y\n\n".write(to: folder.appendingPathComponent("new/.hidden"), atomically: true, encoding: .utf8)
        #expect(try MailboxReader.read(folder.path).map { URL(fileURLWithPath: $0.file).lastPathComponent } == ["1.a"])
    }
}

import Foundation
import TestSupport
import Testing

/// The delivery sink, driven by Python's smtplib (not by the engine under test).
/// Start, stop and the client all block, so each test runs on a thread of its own.
@Suite("Test support: the delivery sink")
struct DeliverySinkTests {
    @Test("accepts any message and logs each copy, a duplicate Message-ID twice")
    func acceptsAndCountsDuplicates() async throws {
        try await onThread {
            let sink = try DeliverySink.start()
            defer { sink.stop() }
            #expect(sink.transportURL == "smtp://127.0.0.1:\(sink.port)?tls=none")
            let outcomes = try Self.send(to: sink, [("reader@example.net", "one@x"), ("reader@example.net", "one@x"), ("other@example.net", "two@x")])
            #expect(outcomes == ["250", "250", "250"])

            let accepted = try sink.accepted()
            #expect(accepted.map(\.messageID) == ["one@x", "one@x", "two@x"])
            #expect(accepted.map(\.rcpt) == ["reader@example.net", "reader@example.net", "other@example.net"])
            let first = try #require(accepted.first)
            #expect(first.trace == "trace-one@x")
            #expect(first.subject == "Test one@x")
            #expect(first.mailFrom == "writer@example.org")
            #expect(first.bytes > 50)
            #expect(abs(first.time - Date().timeIntervalSince1970) < 60)
            #expect(accepted.allSatisfy { !$0.dropped })

            sink.stop()
            sink.stop()
            #expect(try Self.send(to: sink, [("reader@example.net", "three@x")]) == ["refused"], "nothing listens after stop()")
        }
    }

    @Test("--reject-prefix: 550 at RCPT, nothing logged")
    func rejects() async throws {
        try await onThread {
            let sink = try DeliverySink.start(.init(rejectPrefix: "bounce"))
            defer { sink.stop() }
            let outcomes = try Self.send(to: sink, [("Bounce-1@example.net", "a@x"), ("bounce-1@example.net", "b@x"), ("reader@example.net", "c@x")])
            #expect(outcomes == ["550", "550", "250"])
            #expect(try sink.accepted().map(\.messageID) == ["c@x"])
        }
    }

    @Test("--tempfail-prefix: 451 at RCPT for the first attempts of an address, then accepted")
    func tempfailsThenAccepts() async throws {
        try await onThread {
            let sink = try DeliverySink.start(.init(tempfailPrefix: "later", tempfailTimes: 2))
            defer { sink.stop() }
            let attempt = ("later@example.net", "a@x")
            #expect(try Self.send(to: sink, [attempt, attempt, attempt, attempt]) == ["451", "451", "250", "250"])
            #expect(try sink.accepted().count == 2)
        }
    }

    @Test("--drop-prefix: the line drops after DATA, the copy is logged as dropped; the retry goes through")
    func dropsAfterData() async throws {
        try await onThread {
            let sink = try DeliverySink.start(.init(dropPrefix: "drop"))
            defer { sink.stop() }
            let attempt = ("drop-me@example.net", "a@x")
            #expect(try Self.send(to: sink, [attempt, attempt]) == ["disconnected", "250"])
            #expect(try sink.accepted().map(\.dropped) == [true, false])
        }
    }

    @Test("--delay-ms: a client that hangs up while it waits for the verdict is received, never accepted")
    func abandonedWhileDelayed() async throws {
        try await onThread {
            let sink = try DeliverySink.start(.init(delayMilliseconds: 2500))
            defer { sink.stop() }
            // The client gives up 1 s after the final ".", and smtplib reports a timeout while reading as a disconnect.
            #expect(try Self.send(to: sink, [("slow@example.net", "a@x")], timeout: 1) == ["disconnected"])
            #expect(try sink.received().map(\.messageID) == ["a@x"])
            usleep(2_500_000)
            #expect(try sink.accepted().isEmpty, "the verdict was never given, so nothing was accepted")
        }
    }

    @Test("--fail-all: every MAIL FROM gets the code")
    func failsAll() async throws {
        try await onThread {
            let sink = try DeliverySink.start(.init(failAll: 451))
            defer { sink.stop() }
            #expect(try Self.send(to: sink, [("reader@example.net", "a@x")]) == ["451"])
            #expect(try sink.accepted().isEmpty)
        }
    }

    @Test("a sink that cannot start throws with the script's output")
    func startFailure() async throws {
        try await onThread {
            let error = try #require(throws: TestSupportError.self) { try DeliverySink.start(.init(failAll: 250)) }
            #expect(error.message.contains("exited"))
            #expect(error.message.contains("--fail-all takes a 4xx or 5xx reply code"))
        }
    }

    /// Sends one message per (recipient, Message-ID), each on a connection of
    /// its own; returns each outcome: the reply code of the refusal or the
    /// final 250, "disconnected", "refused" (no connection) or "timeout" (no
    /// reply within `timeout` seconds; the client hangs up).
    static func send(to sink: DeliverySink, _ messages: [(rcpt: String, messageID: String)], timeout: Double = 10) throws -> [String] {
        let script = """
            import smtplib, socket, sys
            port, timeout, out = int(sys.argv[1]), float(sys.argv[2]), []
            for rcpt, mid in zip(sys.argv[3::2], sys.argv[4::2]):
                msg = ("From: writer@example.org\\r\\nTo: %s\\r\\nSubject: Test %s\\r\\nMessage-ID: <%s>\\r\\n"
                       "X-Listctl-Trace: trace-%s\\r\\n\\r\\nHello.\\r\\n" % (rcpt, mid, mid, mid))
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
                        s.sendmail("writer@example.org", [rcpt], msg)
                    out.append("250")
                except smtplib.SMTPRecipientsRefused as e:
                    out.append(str(e.recipients[rcpt][0]))
                except smtplib.SMTPResponseException as e:
                    out.append(str(e.smtp_code))
                except smtplib.SMTPServerDisconnected:
                    out.append("disconnected")
                except ConnectionRefusedError:
                    out.append("refused")
                except socket.timeout:
                    out.append("timeout")
            print(" ".join(out))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, String(sink.port), String(timeout)] + messages.flatMap { [$0.rcpt, $0.messageID] }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestSupportError(message: "the smtplib client exited with \(process.terminationStatus):\n\(output)")
        }
        return output.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }
}

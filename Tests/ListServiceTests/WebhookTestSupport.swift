import Foundation
import Mailer
import TestSupport
import Testing

@testable import ListService

/// What the webhook tests share: fixtures, signing with the openssl command
/// (an implementation other than the one under test), a sink that collects,
/// and the routes' answer to one request.
enum WebhookTesting {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/webhooks")
    static let tools = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tools")

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: fixtures.appendingPathComponent(name)))
    }

    static func object(_ name: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(try fixture(name))) as? [String: Any])
    }

    static func json(_ value: Any) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]))
    }

    struct CommandFailed: Error, CustomStringConvertible { let description: String }

    /// Runs `openssl arguments` with `input` on stdin; its stdout.
    static func openssl(_ arguments: [String], input: [UInt8] = []) async throws -> [UInt8] {
        try await onThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
            process.standardInput = stdin
            process.standardOutput = stdout
            process.standardError = stderr
            try process.run()
            stdin.fileHandleForWriting.write(Data(input))
            try stdin.fileHandleForWriting.close()
            let out = stdout.fileHandleForReading.readDataToEndOfFile()
            let err = stderr.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw CommandFailed(description: "openssl \(arguments.joined(separator: " ")): \(String(decoding: err, as: UTF8.self))")
            }
            return Array(out)
        }
    }

    /// HMAC-SHA256 of `data` under `key`, computed by openssl.
    static func hmac(key: [UInt8], _ data: [UInt8]) async throws -> [UInt8] {
        try await openssl(["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + Digest.hex(key), "-binary"], input: data)
    }

    /// A signature of `data` with the PEM private key at `keyPath` (RSA PKCS#1 v1.5 or DER ECDSA), by openssl.
    static func sign(_ data: [UInt8], keyPath: String, digest: String = "sha256") async throws -> [UInt8] {
        try await openssl(["dgst", "-\(digest)", "-sign", keyPath, "-binary"], input: data)
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// A sink that keeps what it is given, or fails while `failing` is set.
    actor CollectingSink: BounceSink {
        private(set) var notices: [BounceNotice] = []
        var failing = false

        struct Down: Error {}

        func setFailing(_ value: Bool) { failing = value }

        func record(_ notice: BounceNotice) async throws -> String {
            if failing { throw Down() }
            notices.append(notice)
            return "recorded"
        }
    }

    static func routes(_ settings: WebhookSettings, sink: CollectingSink, fetcher: HTTPSFetcher? = nil) throws -> WebhookRoutes {
        try WebhookRoutes(settings: settings, baseURL: "https://news.example.org", sink: sink, fetcher: fetcher)
    }

    /// The status the routes answer `provider`'s request with.
    static func status(
        _ routes: WebhookRoutes, _ provider: WebhookProvider, headers: [String: String], body: [UInt8], at date: Date = Date()
    ) async throws -> Int {
        let verifier = try #require(routes.verifiers[provider], "\(provider) is configured")
        return await routes.handle(provider, verifier, WebhookRequest(headers: headers, body: body, receivedAt: date), metadata: [:]).status
    }
}

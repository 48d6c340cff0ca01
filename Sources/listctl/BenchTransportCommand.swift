import ArgumentParser
import Foundation
import Mailer

/// Hidden: drives the configured transport as hard as it goes, for
/// scripts/bench-send.sh. Each message gets its own Message-ID (so DKIM signs
/// each one), as personalised mail would.
struct BenchTransportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-transport",
        abstract: "Send N synthetic messages through LISTCTL_TRANSPORT and report messages/second.",
        shouldDisplay: false
    )

    @Option(help: "Number of messages.") var count: Int = 1000
    @Option(help: "Approximate size of each message, in bytes.") var size: Int = 51_200
    @Option(help: "Parallel connections (overrides ?connections= in LISTCTL_TRANSPORT).") var connections: Int?
    @Option(name: .customLong("dkim-key"), help: ArgumentHelp("Sign with this PEM key (d=example.org, s=bench).", valueName: "file"))
    var dkimKey: String?
    @Flag(name: .customLong("sign-only"), help: "Only sign the messages (needs --dkim-key): DKIM cost without a transport.")
    var signOnly = false
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        if count < 1 { throw ValidationError("--count must be at least 1") }
        if size < 512 { throw ValidationError("--size must be at least 512 bytes") }
        if let connections, connections < 1 { throw ValidationError("--connections must be at least 1") }
    }

    func run() async throws {
        var (transportConfiguration, notice) = try TransportConfiguration.fromEnvironment()
        if let notice { printError(notice) }
        if let connections { transportConfiguration.parameters["connections"] = String(connections) }
        let signer = try dkimKey.map { DKIMSigner(domain: "example.org", selector: "bench", key: try DKIMKey(contentsOfFile: $0)) }
        let transport = try transportConfiguration.makeTransport(signer: signer)

        // Body: lines of 76 characters, like quoted-printable HTML.
        let line = Array((String(repeating: "abcdefghijklmnopqrstuvwxyz0123456789", count: 3).prefix(76) + "\r\n").utf8)
        var body: [UInt8] = []
        while body.count + line.count <= size - 400 { body += line }
        func message(_ index: Int) -> OutgoingMessage {
            let id = "bench-\(index)-\(UInt32.random(in: 0...UInt32.max))@example.org"
            var data = Array("""
                From: Bench <bench@example.org>\r
                To: sink@example.net\r
                Subject: Benchmark message \(index)\r
                Date: Fri, 27 Nov 2026 12:00:00 +0000\r
                Message-ID: <\(id)>\r
                List-Unsubscribe: <https://example.org/u/\(index)>\r
                List-Unsubscribe-Post: List-Unsubscribe=One-Click\r
                MIME-Version: 1.0\r
                Content-Type: text/plain; charset=utf-8\r
                \r

                """.utf8)
            data += body
            return OutgoingMessage(envelopeFrom: "bench@example.org", recipient: "sink@example.net", data: data, messageID: id)
        }

        if signOnly {
            guard let signer else { throw ValidationError("--sign-only needs --dkim-key") }
            let messages = (0..<min(count, 64)).map(message)
            let start = ContinuousClock.now
            var total = 0
            for index in 0..<count { total &+= try signer.sign(messages[index % messages.count].data).count }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(
                "signed \(count) messages (\(signer.key.algorithm.rawValue)) in \(String(format: "%.2f", seconds)) s on one thread: \(String(format: "%.0f", Double(count) / seconds)) messages/s, \(String(format: "%.0f", seconds / Double(count) * 1e6)) µs each"
            )
            return
        }

        // Keep every connection busy with a little queue behind it.
        let inFlight = max(1, transportConfiguration.connections * 2)
        let start = ContinuousClock.now
        var failures = 0
        var firstError: String?
        var bytes = 0
        await withTaskGroup(of: (Int, String?).self) { group in
            var next = 0
            func add() {
                let item = message(next)
                bytes += item.data.count
                next += 1
                group.addTask {
                    do {
                        _ = try await transport.send(item)
                        return (0, nil)
                    } catch {
                        return (1, "\(error)")
                    }
                }
            }
            while next < min(count, inFlight) { add() }
            for await (failed, error) in group {
                failures += failed
                if firstError == nil { firstError = error }
                if next < count { add() }
            }
        }
        let elapsed = ContinuousClock.now - start
        await transport.close()
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = Double(count - failures) / seconds
        let average = bytes / count
        let dkim = signer.map { $0.key.algorithm.rawValue } ?? "off"
        if json {
            struct Output: Encodable {
                let count, failures, bytes, connections: Int
                let seconds, rate: Double
                let dkim: String
            }
            try printJSON(Output(
                count: count, failures: failures, bytes: average, connections: transportConfiguration.connections,
                seconds: (seconds * 1000).rounded() / 1000, rate: (rate * 10).rounded() / 10, dkim: dkim))
        } else {
            print(
                "\(count - failures) of \(count) messages of \(average) bytes in \(String(format: "%.2f", seconds)) s: \(String(format: "%.0f", rate)) messages/s over \(transportConfiguration.connections) connections, DKIM \(dkim), via \(transport.displayName)"
            )
        }
        if let firstError { printError("first failure: \(firstError)") }
        if failures > 0 { throw ExitCode.failure }
    }
}

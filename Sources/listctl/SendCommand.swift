import ArgumentParser
import Foundation
import ListService
import Logging
import Mailer

struct SendCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Send an issue. With --to, send a test copy of every part to one address.",
        discussion: """
            --to ADDR renders the issue as the list would send it and mails every part to \
            ADDR through LISTCTL_TRANSPORT (unset: the Maildir ./outbox, nothing is sent), \
            signed when LISTCTL_DKIM_* are set. No subscriber is touched and nothing is \
            recorded, so a writer can check the real thing in their own inbox first.
            """
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "The issue: Markdown with optional front matter.") var file: String
    @Option(help: "Send a test copy of every part to this address only.") var to: String?
    @Option(help: "Use this list's name, sender and links (needs the database).") var list: String?
    @Option(help: "Largest encoded HTML part, in bytes.") var budget: Int = IssueRenderer.defaultBudget

    func validate() throws {
        if let to { _ = try Self.recipientAddress(to) }
    }

    func run() async throws {
        guard let to else {
            // Delivery to a list's subscribers goes through the ledger; this
            // command only has the test-copy path so far.
            throw ValidationError("sending to a whole list is not available yet; use --to ADDR to send yourself a test copy")
        }
        try await sendTestCopy(to: Self.recipientAddress(to))
    }

    // MARK: --to: one test copy of every part

    private func sendTestCopy(to address: String) async throws {
        let (identity, template) = try await global.listLook(listSlug: list, standaloneSlug: "test")
        let (transportConfiguration, notice) = try TransportConfiguration.fromEnvironment()
        if let notice { printError(notice) }
        let transport = try transportConfiguration.makeTransport(signer: try DKIMSigner.fromEnvironment(), logger: global.logger)
        let stem = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let sender = TestCopySender(identity: identity, template: template, budget: budget, logger: global.logger)
        print("sending a test copy of every part to \(address) via \(transport.displayName)")
        let failures: Int
        do {
            failures = try await sender.send(
                file: file, to: address, viewInBrowserURL: archiveURL(base: identity.baseURL, fileStem: stem), transport: transport
            ) { result in
                let label = "part \(result.number)/\(result.count) \"\(result.subject)\" (\(result.bytes) bytes)"
                switch result.outcome {
                case .success(let receipt):
                    let reply = Self.oneLine(receipt.serverText)
                    print("sent \(label): \(reply.hasPrefix(String(receipt.code)) ? reply : "\(receipt.code) \(reply)")")
                case .failure(let error):
                    printError("failed \(label): \(error)")
                }
            }
        } catch {
            await transport.close()
            throw error
        }
        await transport.close()
        if failures > 0 { throw ExitCode.failure }
    }

    /// `--to` normalised as an import would store it, and sendable as is.
    static func recipientAddress(_ text: String) throws -> String {
        do {
            return try EmailAddress(validating: EmailAddress(normalizing: text).address).address
        } catch {
            throw ValidationError("--to: \(error.reason)")
        }
    }

    static func oneLine(_ text: String) -> String {
        let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        return line.count > 120 ? String(line.prefix(117)) + "..." : line
    }
}

import ArgumentParser
import Foundation
import Mailer

struct DKIMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkim",
        abstract: "DKIM keys for signing mail (LISTCTL_DKIM_DOMAIN, LISTCTL_DKIM_SELECTOR, LISTCTL_DKIM_KEY_FILE).",
        subcommands: [Keygen.self, Record.self]
    )

    enum KeyType: String, ExpressibleByArgument, CaseIterable {
        case rsa, ed25519
    }

    struct Keygen: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keygen",
            abstract: "Write a new private key (mode 0600) and print the DNS TXT record to publish.",
            discussion: """
                RSA keys are 2048 bits, which every verifier accepts. Ed25519 (RFC 8463) is \
                smaller and faster, but not every receiver checks it yet: if you use it, \
                publish an RSA key under a second selector too.
                """
        )

        @Option(help: "The selector: the key record is published at SELECTOR._domainkey.DOMAIN.") var selector: String
        @Option(help: "The signing domain (d=), usually the domain of your From address.") var domain: String
        @Option(name: .customLong("type"), help: "Key type: rsa or ed25519.") var keyType: KeyType = .rsa
        @Option(help: ArgumentHelp("Directory for the key file.", valueName: "dir")) var out: String = "."

        func validate() throws {
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
            if selector.isEmpty || selector.unicodeScalars.contains(where: { !allowed.contains($0) }) {
                throw ValidationError("--selector must be letters, digits, '-', '_' or '.' (it becomes a DNS label)")
            }
            if domain.isEmpty || !domain.contains(".") || domain.unicodeScalars.contains(where: { !allowed.contains($0) }) {
                throw ValidationError("--domain must be a domain name such as example.org")
            }
        }

        func run() async throws {
            let key = try DKIMKey.generate(keyType == .rsa ? .rsaSHA256 : .ed25519SHA256)
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let path = URL(fileURLWithPath: out).appendingPathComponent("\(selector)._domainkey.\(domain).pem").path
            try key.writePrivateKey(toFile: path)
            print(try key.dnsRecord(selector: selector, domain: domain))
            printError("""
                wrote the private key to \(path) (mode 0600). Publish the TXT record above, then set:
                  LISTCTL_DKIM_DOMAIN=\(domain) LISTCTL_DKIM_SELECTOR=\(selector) LISTCTL_DKIM_KEY_FILE=\(path)
                """)
        }
    }

    struct Record: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "record",
            abstract: "Print the DNS TXT record for an existing private key (default: the LISTCTL_DKIM_* settings)."
        )

        @Option(help: "Selector (default LISTCTL_DKIM_SELECTOR).") var selector: String?
        @Option(help: "Domain (default LISTCTL_DKIM_DOMAIN).") var domain: String?
        @Option(help: ArgumentHelp("PEM private key (default LISTCTL_DKIM_KEY_FILE).", valueName: "file")) var key: String?

        func run() async throws {
            let environment = ProcessInfo.processInfo.environment
            guard let selector = selector ?? environment["LISTCTL_DKIM_SELECTOR"],
                let domain = domain ?? environment["LISTCTL_DKIM_DOMAIN"],
                let file = key ?? environment["LISTCTL_DKIM_KEY_FILE"]
            else {
                throw ValidationError("give --selector, --domain and --key, or set LISTCTL_DKIM_SELECTOR, LISTCTL_DKIM_DOMAIN and LISTCTL_DKIM_KEY_FILE")
            }
            print(try DKIMKey(contentsOfFile: file).dnsRecord(selector: selector, domain: domain))
        }
    }
}

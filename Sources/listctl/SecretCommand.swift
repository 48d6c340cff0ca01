import ArgumentParser
import ListService

struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "The token secret that signs links in mail (LISTCTL_SECRET, LISTCTL_SECRET_FILE).",
        subcommands: [Generate.self]
    )

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Print a new random secret (32 bytes, base64url) for LISTCTL_SECRET_FILE.",
            discussion: """
                Never prints the secret in use. To rotate, put the new secret on the first line \
                of the file and keep the old one below it while its links should still work:
                  { listctl secret generate; cat /etc/listctl/secret; } > /etc/listctl/secret.new
                """
        )

        func run() async throws {
            print(try TokenSecrets.generate())
        }
    }
}

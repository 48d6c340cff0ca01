import ArgumentParser
import ListService

@main
struct Listctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listctl",
        abstract: "A self-hosted newsletter backend: subscribers in PostgreSQL, long issues split so no mail client clips them.",
        discussion: """
            With no DATABASE_URL, listctl runs its own private PostgreSQL under \
            $LISTCTL_HOME (else $XDG_DATA_HOME/listctl, else ~/.local/share/listctl).
            """,
        version: ListctlVersion.current,
        subcommands: [
            // Each command lives in its own file: <Name>Command.swift.
        ]
    )
}

import ArgumentParser
import Foundation
import ListService

struct Listctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "listctl",
        abstract: "A self-hosted newsletter backend: subscribers in PostgreSQL, long issues split so no mail client clips them.",
        discussion: """
            Settings come from the environment: DATABASE_URL (unset: a private PostgreSQL \
            under $LISTCTL_HOME, else $XDG_DATA_HOME/listctl, else ~/.local/share/listctl; \
            /var/lib/listctl as root), LISTCTL_FROM, LISTCTL_BASE_URL, LISTCTL_TRANSPORT.
            """,
        version: ListctlVersion.current,
        subcommands: [
            // Each command lives in its own file: <Name>Command.swift.
            MigrateCommand.self,
            DBCommand.self,
            ListsCommand.self,
            StatusCommand.self,
            ImportCommand.self,
            SubscribersCommand.self,
            SuppressionsCommand.self,
            BouncesCommand.self,
            IssuesCommand.self,
            PreviewCommand.self,
            SendCommand.self,
            DeliverCommand.self,
            WorkerCommand.self,
            ServeCommand.self,
            ArchiveCommand.self,
            CancelCommand.self,
            PauseCommand.self,
            ResumeCommand.self,
            RetryCommand.self,
            RescheduleCommand.self,
            DKIMCommand.self,
            SecretCommand.self,
            BenchTransportCommand.self,
        ]
    )
}

/// Runs the CLI with listctl's exit codes: 0 success, 1 failure, 2 usage,
/// 130 a send or deliver stopped by Ctrl-C before it was done.
@main
enum ListctlMain {
    static func main() async {
        unblockSignals()
        do {
            var command = try Listctl.parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = Listctl.exitCode(for: error)
            let message = Listctl.fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                exit(0)
            }
            if !message.isEmpty {
                FileHandle.standardError.write(Data((message + "\n").utf8))
            }
            if code == .validationFailure {
                exit(2)
            }
            if code.rawValue == 130 {
                exit(130)
            }
            exit(code.rawValue == 0 ? 0 : 1)
        }
    }

    /// A process inherits its parent's blocked signals: one started from a
    /// thread that blocks SIGTERM (a dispatch worker's, say) would never see a
    /// supervisor's stop. listctl starts with none blocked.
    static func unblockSignals() {
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
    }
}

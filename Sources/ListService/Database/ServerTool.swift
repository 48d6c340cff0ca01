import Foundation

/// Runs the installed PostgreSQL's programs (initdb, pg_ctl, pg_dump,
/// pg_restore, psql) with posix_spawn.
///
/// Output goes to a file, not a pipe: `pg_ctl start` leaves the server
/// running, and a server holding a pipe's write end would keep a reader
/// (Foundation's `Process` among them) waiting for end-of-file forever.
enum ServerTool {
    struct Result {
        let status: Int32
        /// stdout and stderr together (stderr only, when stdout was redirected).
        let output: String
    }

    /// One program to run: a tool name in the server's bin directory, or an absolute path.
    struct Invocation {
        var tool: String
        var arguments: [String]
        /// Variables set on top of this process's environment (`PGHOST`, `PGPASSWORD`, …).
        var environment: [String: String] = [:]
        /// As root, run as the `postgres` user (the server refuses root).
        var asServerUser = false
    }

    /// The directory of the newest installed server binaries (`/usr/lib/postgresql/15/bin`).
    static func binDirectory() throws -> URL {
        let base = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? []
        let candidates = versions.compactMap(Int.init).sorted(by: >)
        for version in candidates {
            let bin = base.appendingPathComponent("\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        throw ListServiceError(
            code: .embeddedDatabase,
            message: "no PostgreSQL server is installed (looked for /usr/lib/postgresql/*/bin/initdb). Install it with `apt-get install postgresql`, or set DATABASE_URL to use an existing server.")
    }

    /// Runs `invocation` to its end; stdin is /dev/null.
    static func run(_ invocation: Invocation, code: ListServiceError.Code = .embeddedDatabase) throws -> Result {
        let output = OutputFile()
        defer { output.remove() }
        let pid = try spawn(invocation, stdin: nil, stdout: nil, output: output, code: code)
        let status = try wait(pid, code: code)
        return Result(status: status, output: output.read())
    }

    /// Runs `producer | consumer` (`pg_restore -f - | psql`), each to its end.
    /// Unlike the server, neither keeps the pipe open after it exits.
    static func pipeline(_ producer: Invocation, into consumer: Invocation, code: ListServiceError.Code)
        throws -> (producer: Result, consumer: Result)
    {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw ListServiceError(code: code, message: "cannot create a pipe: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec, so that no other child (of another thread, or the
        // consumer itself) holds the write end and keeps psql from end-of-file.
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let producerOutput = OutputFile()
        let consumerOutput = OutputFile()
        defer {
            producerOutput.remove()
            consumerOutput.remove()
        }
        let producerPID: pid_t
        do {
            producerPID = try spawn(producer, stdin: nil, stdout: ends[1], output: producerOutput, code: code)
        } catch {
            close(ends[0])
            close(ends[1])
            throw error
        }
        close(ends[1])
        let consumerPID: pid_t
        do {
            consumerPID = try spawn(consumer, stdin: ends[0], stdout: nil, output: consumerOutput, code: code)
        } catch {
            close(ends[0])
            _ = try? wait(producerPID, code: code)
            throw error
        }
        close(ends[0])
        let producerStatus = try wait(producerPID, code: code)
        let consumerStatus = try wait(consumerPID, code: code)
        return (Result(status: producerStatus, output: producerOutput.read()),
                Result(status: consumerStatus, output: consumerOutput.read()))
    }

    // MARK: Spawning

    private final class OutputFile {
        let path = NSTemporaryDirectory() + "listctl-tool-\(UUID().uuidString).log"
        func read() -> String { String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        func remove() { unlink(path) }
    }

    private static func spawn(
        _ invocation: Invocation, stdin: Int32?, stdout: Int32?, output: OutputFile, code: ListServiceError.Code
    ) throws -> pid_t {
        let executable = invocation.tool.hasPrefix("/")
            ? invocation.tool : try binDirectory().appendingPathComponent(invocation.tool).path
        // Run from "/": initdb fails in a working directory that the postgres
        // user cannot read (root's home, say).
        var argv = ["/usr/bin/env", "--chdir=/", executable] + invocation.arguments
        if invocation.asServerUser && getuid() == 0 {
            argv = ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv
        }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in invocation.environment { environment[key] = value }
        var cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cEnvironment.forEach { free($0) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let stdout {
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 2, 1)
        }
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, &cEnvironment)
        guard spawned == 0 else {
            throw ListServiceError(code: code, message: "cannot run \(executable): \(String(cString: strerror(spawned)))")
        }
        return pid
    }

    private static func wait(_ pid: pid_t, code: ListServiceError.Code) throws -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw ListServiceError(code: code, message: "waiting for process \(pid) failed: \(String(cString: strerror(errno)))")
            }
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }
}

public import Foundation
import Logging

/// listctl's private PostgreSQL cluster, for users with no `DATABASE_URL`.
///
/// It lives under `home` (`postgres/` holds the data, `run/` the Unix
/// socket), listens on no TCP port, and trusts only its owner: the socket
/// directory is 0700. As root, the server runs as the `postgres` user, which
/// must be able to reach `home`.
public struct EmbeddedPostgres: Sendable {
    public let home: URL
    public let databaseName = "listctl"
    /// Initialise and run without fsync (tests only: `LISTCTL_EMBEDDED_NOSYNC=1`).
    public let noSync: Bool
    let logger: Logger

    public init(home: URL, noSync: Bool = ProcessInfo.processInfo.environment["LISTCTL_EMBEDDED_NOSYNC"] == "1",
                logger: Logger = Logger(label: "listctl.embedded"))
    {
        self.home = home
        self.noSync = noSync
        self.logger = logger
    }

    public var dataDirectory: URL { home.appendingPathComponent("postgres", isDirectory: true) }
    public var socketDirectory: URL { home.appendingPathComponent("run", isDirectory: true) }
    var logFile: URL { home.appendingPathComponent("postgres.log") }
    var runsAsRoot: Bool { getuid() == 0 }
    private let port = 5432

    /// The libpq URI of the cluster's `listctl` database.
    public var connectionURL: String {
        let host = socketDirectory.path.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? socketDirectory.path
        return "postgresql://postgres@/\(databaseName)?host=\(host)&port=\(port)"
    }

    public enum State: String, Sendable {
        /// No cluster has been created yet.
        case absent
        case stopped
        case running
    }

    /// Whether the cluster exists and runs.
    public func state() throws -> State {
        guard FileManager.default.fileExists(atPath: dataDirectory.appendingPathComponent("PG_VERSION").path) else {
            return .absent
        }
        let result = try run(tool: "pg_ctl", ["status", "-D", dataDirectory.path], asServerUser: true)
        return result.status == 0 ? .running : .stopped
    }

    /// Creates the cluster if needed, starts it if stopped, creates the
    /// `listctl` database if missing. Safe to call from several processes at once.
    ///
    /// - Returns: `true` if this call started the server.
    @discardableResult
    public func start() throws -> Bool {
        try prepareHome()
        return try withHomeLock {
            var current = try state()
            if current == .absent {
                try initialise()
                current = .stopped
            }
            var started = false
            if current == .stopped {
                logger.info("starting the embedded PostgreSQL", metadata: ["directory": "\(dataDirectory.path)"])
                let result = try run(tool: "pg_ctl", [
                    "start", "-w", "-t", "60", "-D", dataDirectory.path, "-l", logFile.path,
                ], asServerUser: true)
                guard result.status == 0 else {
                    throw ListServiceError(
                        code: .embeddedDatabase,
                        message: "the embedded PostgreSQL did not start: \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))\nSee \(logFile.path).")
                }
                started = true
            }
            let exists = try psql("SELECT 1 FROM pg_database WHERE datname = '\(databaseName)'")
            if exists.trimmingCharacters(in: .whitespacesAndNewlines) != "1" {
                _ = try psql("CREATE DATABASE \(databaseName)")
            }
            return started
        }
    }

    /// Stops the server if it runs. Data stays.
    ///
    /// - Returns: `true` if it was running.
    @discardableResult
    public func stop() throws -> Bool {
        guard try state() == .running else { return false }
        let result = try run(tool: "pg_ctl", ["stop", "-w", "-m", "fast", "-D", dataDirectory.path], asServerUser: true)
        guard result.status == 0 else {
            throw ListServiceError(code: .embeddedDatabase, message: "the embedded PostgreSQL did not stop: \(result.output)")
        }
        return true
    }

    // MARK: Set-up

    private func prepareHome() throws {
        let manager = FileManager.default
        do {
            try manager.createDirectory(at: home, withIntermediateDirectories: true)
            try manager.createDirectory(at: socketDirectory, withIntermediateDirectories: true)
        } catch {
            throw ListServiceError(
                code: .embeddedDatabase,
                message: "cannot create \(home.path) for the embedded PostgreSQL: \(error.localizedDescription). Set LISTCTL_HOME to a writable directory, or DATABASE_URL to use your own server.")
        }
        // libpq's socket path (…/run/.s.PGSQL.5432) must fit in sun_path.
        if socketDirectory.path.utf8.count + 16 > 107 {
            throw ListServiceError(
                code: .embeddedDatabase,
                message: "\(socketDirectory.path) is too long for a Unix socket path (at most about 90 characters). Set LISTCTL_HOME to a shorter directory.")
        }
        chmod(socketDirectory.path, 0o700)
        if runsAsRoot {
            _ = try run(tool: "/bin/chown", ["postgres:postgres", socketDirectory.path], asServerUser: false)
            if manager.fileExists(atPath: dataDirectory.path) == false {
                try manager.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
                _ = try run(tool: "/bin/chown", ["postgres:postgres", dataDirectory.path], asServerUser: false)
            }
            _ = try run(tool: "/bin/chown", ["postgres:postgres", home.path], asServerUser: false)
            let reach = try run(tool: "/usr/bin/test", ["-w", socketDirectory.path, "-a", "-x", home.path], asServerUser: true)
            guard reach.status == 0 else {
                throw ListServiceError(
                    code: .embeddedDatabase,
                    message: "the postgres user cannot reach \(home.path) (a parent directory is closed to it; root's home is). Set LISTCTL_HOME to a directory it can reach, such as /var/lib/listctl.")
            }
        }
    }

    private func initialise() throws {
        logger.info("creating the embedded PostgreSQL cluster", metadata: ["directory": "\(dataDirectory.path)"])
        var arguments = ["-D", dataDirectory.path, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]
        if noSync { arguments.append("--no-sync") }
        let result = try run(tool: "initdb", arguments, asServerUser: true)
        guard result.status == 0 else {
            throw ListServiceError(code: .embeddedDatabase, message: "initdb failed for \(dataDirectory.path):\n\(result.output)")
        }
        var settings = """

            # listctl: private cluster, Unix socket only, owner only.
            listen_addresses = ''
            unix_socket_directories = '\(socketDirectory.path)'
            unix_socket_permissions = 0700
            port = \(port)

            """
        if noSync { settings += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n" }
        let configuration = dataDirectory.appendingPathComponent("postgresql.conf")
        let handle = try FileHandle(forWritingTo: configuration)
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    private func psql(_ sql: String) throws -> String {
        let result = try run(tool: "psql", [
            "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", socketDirectory.path, "-p", String(port),
            "-U", "postgres", "-d", "postgres", "-c", sql,
        ], asServerUser: true)
        guard result.status == 0 else {
            throw ListServiceError(code: .embeddedDatabase, message: "embedded PostgreSQL: \(sql) failed: \(result.output)")
        }
        return result.output
    }

    /// A lock file under `home` so that two listctl processes don't both initdb or start.
    private func withHomeLock<T>(_ body: () throws -> T) throws -> T {
        let path = home.appendingPathComponent(".lock").path
        let descriptor = open(path, O_CREAT | O_RDWR, 0o600)
        guard descriptor >= 0 else {
            throw ListServiceError(code: .embeddedDatabase, message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        flock(descriptor, LOCK_EX)
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }

    // MARK: Running server tools

    typealias ToolResult = ServerTool.Result

    /// The directory of the newest installed server binaries (`/usr/lib/postgresql/15/bin`).
    static func serverBinDirectory() throws -> URL { try ServerTool.binDirectory() }

    private func run(tool: String, _ arguments: [String], asServerUser: Bool) throws -> ToolResult {
        try ServerTool.run(ServerTool.Invocation(tool: tool, arguments: arguments, asServerUser: asServerUser))
    }
}

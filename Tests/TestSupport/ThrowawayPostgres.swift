public import Foundation

import Glibc

/// A PostgreSQL cluster of one test's own, on a random loopback port, for
/// fault tests that restart or stop the server: doing that to the shared
/// server that the test script starts would break every other test.
///
/// Use ``withThrowawayPostgres(isolation:_:)``, which awaits ``destroy()``
/// however the test ends. Starting takes about a second.
public final class ThrowawayPostgres: Sendable {
    /// The TCP port on 127.0.0.1.
    public let port: Int
    /// The folder holding the cluster (`data/`) and its log (`server.log`);
    /// ``destroy()`` removes it.
    public let directory: URL
    private let binDirectory: URL

    /// libpq URI of the `postgres` database, as superuser `postgres`, no password.
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres" }

    private var dataDirectory: String { directory.appendingPathComponent("data").path }
    private var logFile: String { directory.appendingPathComponent("server.log").path }

    private init(port: Int, directory: URL, binDirectory: URL) {
        self.port = port
        self.directory = directory
        self.binDirectory = binDirectory
    }

    /// Creates a cluster in a fresh folder under `LISTCTL_TEST_WORK` (else the
    /// temporary directory) and starts it on a free port, waiting until it
    /// accepts connections. As root, the server runs as the `postgres` user.
    ///
    /// - Throws: `TestSupportError` with the tool's output when initdb or
    ///   pg_ctl fails; the folder is removed then.
    public static func start() async throws -> ThrowawayPostgres {
        let bin = try serverBinDirectory()
        let directory = try makeTemporaryDirectory("throwaway-pg")
        do {
            // The postgres user must reach the folder and write in it.
            guard chmod(directory.path, 0o755) == 0 else {
                throw TestSupportError(message: "chmod \(directory.path): \(String(cString: strerror(errno)))")
            }
            if runsAsRoot {
                guard let user = getpwnam("postgres") else {
                    throw TestSupportError(message: "running as root, but there is no postgres user to run the server as")
                }
                guard chown(directory.path, user.pointee.pw_uid, user.pointee.pw_gid) == 0 else {
                    throw TestSupportError(message: "chown \(directory.path): \(String(cString: strerror(errno)))")
                }
            }
            var server = ThrowawayPostgres(port: try freePort(), directory: directory, binDirectory: bin)
            try await server.tool(
                "initdb", ["-D", server.dataDirectory, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
            // The port was free a moment ago; another process may take it
            // before the server binds it, so try a few.
            var attempt = 1
            while true {
                do {
                    try await server.startAgain()
                    return server
                } catch where attempt < 3 {
                    attempt += 1
                    server = ThrowawayPostgres(port: try freePort(), directory: directory, binDirectory: bin)
                }
            }
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }

    /// `pg_ctl restart -m fast`: every connection is cut, and the server is
    /// back, on the same port, when this returns.
    public func restart() async throws {
        try await tool("pg_ctl", ["restart", "-D", dataDirectory, "-l", logFile, "-w", "-m", "fast", "-o", serverOptions])
    }

    /// `pg_ctl stop -m fast`: cuts every connection and waits until the server is down.
    public func stop() async throws {
        try await tool("pg_ctl", ["stop", "-D", dataDirectory, "-w", "-m", "fast"])
    }

    /// Starts the server (again, after ``stop()``) on the same port and waits
    /// until it accepts connections.
    public func startAgain() async throws {
        try await tool("pg_ctl", ["start", "-D", dataDirectory, "-l", logFile, "-w", "-o", serverOptions])
    }

    /// Stops the server at once (`-m immediate`) if it runs and removes the
    /// folder. Never throws: it is clean-up.
    public func destroy() async {
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") {
            _ = try? await tool("pg_ctl", ["stop", "-D", dataDirectory, "-w", "-m", "immediate"])
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private var serverOptions: String {
        "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    }

    /// Runs a server tool as the server's user and throws with its output unless it exits 0.
    private func tool(_ name: String, _ arguments: [String]) async throws {
        let executable = binDirectory.appendingPathComponent(name).path
        // From "/": the postgres user may not be able to enter the current directory.
        var argv = ["/usr/bin/env", "--chdir=/", executable] + arguments
        if Self.runsAsRoot { argv = ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv }
        let result = try await Self.run(argv)
        guard result.status == 0 else {
            let log = (try? String(contentsOfFile: logFile, encoding: .utf8)).map { "\nserver.log:\n" + $0.suffix(2000) } ?? ""
            throw TestSupportError(message: "\(name) \(arguments.joined(separator: " ")) exited with \(result.status):\n\(result.output)\(log)")
        }
    }

    private static var runsAsRoot: Bool { geteuid() == 0 }

    /// Spawns `argv` on a dispatch thread (waitpid blocks, and must not hold up
    /// Swift's cooperative pool) and returns its exit status and output.
    private static func run(_ argv: [String]) async throws -> (status: Int32, output: String) {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try spawnAndWait(argv) })
            }
        }
    }

    private static func spawnAndWait(_ argv: [String]) throws -> (status: Int32, output: String) {
        // Output goes to a file, not a pipe: `pg_ctl start` leaves the server
        // running, and a server holding a pipe's write end would keep a
        // reader waiting for end-of-file forever.
        let outputPath = NSTemporaryDirectory() + "listctl-throwaway-pg-\(UUID().uuidString).log"
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else {
            throw TestSupportError(message: "cannot run \(argv[0]): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else {
                throw TestSupportError(message: "waiting for \(argv[0]) failed: \(String(cString: strerror(errno)))")
            }
        }
        let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let output = FileManager.default.contents(atPath: outputPath) ?? Data()
        return (exitStatus, String(decoding: output, as: UTF8.self))
    }

    /// The newest installed server binaries (`/usr/lib/postgresql/<version>/bin`).
    private static func serverBinDirectory() throws -> URL {
        let base = URL(fileURLWithPath: "/usr/lib/postgresql")
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: base.path)) ?? []).compactMap(Int.init).sorted(by: >)
        for version in versions {
            let bin = base.appendingPathComponent("\(version)/bin")
            if FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("initdb").path) { return bin }
        }
        throw TestSupportError(message: "no PostgreSQL server is installed (looked for /usr/lib/postgresql/*/bin/initdb)")
    }
}

/// A loopback port that nothing listens on right now: the kernel's pick for port 0.
func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw TestSupportError(message: "socket: \(String(cString: strerror(errno)))") }
    defer { Glibc.close(socket) }
    var address = loopbackAddress(port: 0)
    guard withSocketAddress(&address, { bind(socket, $0, $1) }) == 0 else {
        throw TestSupportError(message: "bind 127.0.0.1:0: \(String(cString: strerror(errno)))")
    }
    return try boundPort(of: socket)
}

func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    return address
}

func withSocketAddress<T>(_ address: inout sockaddr_in, _ body: (UnsafeMutablePointer<sockaddr>, socklen_t) -> T) -> T {
    withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
}

func boundPort(of socket: Int32) throws -> Int {
    var address = sockaddr_in()
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
    }
    guard result == 0 else { throw TestSupportError(message: "getsockname: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Runs `body` with a throwaway cluster and destroys it, awaited, however
/// `body` ends.
public func withThrowawayPostgres<T>(
    isolation: isolated (any Actor)? = #isolation, _ body: (ThrowawayPostgres) async throws -> T
) async throws -> T {
    let server = try await ThrowawayPostgres.start()
    do {
        let value = try await body(server)
        await server.destroy()
        return value
    } catch {
        await server.destroy()
        throw error
    }
}

import Foundation
import Postgres
import TestSupport
import Testing

/// What a user sees when the database is unreachable or restarts under listctl.
@Suite("listctl with an unreachable or restarting database")
struct DatabaseFaultCLITests {
    @Test("a server that accepts TCP and never answers: listctl status fails within the timeout, saying where and what to check")
    func silentServer() async throws {
        let silent = try SilentServer.start()
        defer { silent.close() }
        let cli = CLI(
            databaseURL: "postgresql://ada:s3cret@127.0.0.1:\(silent.port)/listctl?connect_timeout=3",
            home: try makeTemporaryDirectory("cli"))
        let started = Date()
        let result = try await cli.run("status")
        let took = Date().timeIntervalSince(started)
        #expect(result.status == 1)
        #expect(took < 90, "took \(took) s (generous: the machine is shared; before connect_timeout it hung for good)")
        #expect(result.stderr.contains("127.0.0.1:\(silent.port)"), "\(result.stderr)")
        #expect(result.stderr.contains("no answer within 3 s"), "\(result.stderr)")
        #expect(!result.stderr.contains("s3cret"))
        #expect(!result.stdout.contains("s3cret"))
    }

    @Test("listctl sessions are named listctl/<command> in pg_stat_activity (seen in the server log)")
    func applicationName() async throws {
        try await withThrowawayPostgres { server in
            let cli = CLI(databaseURL: server.url, home: try makeTemporaryDirectory("cli"))
            #expect(try await cli.run("migrate").status == 0)
            // Log every connection's application name, then look at the log.
            let admin = try await PostgresConnection.connect(to: server.url)
            try await admin.execute(script: "ALTER SYSTEM SET log_connections = on")
            try await admin.execute(script: "SELECT pg_reload_conf()")
            await admin.close()
            #expect(try await cli.run("lists", "create", "weekly").status == 0)
            let status = try await cli.run("status", "--json")
            #expect(status.status == 0, "\(status.stderr)")
            let log = (try? String(contentsOf: server.directory.appendingPathComponent("server.log"), encoding: .utf8)) ?? ""
            #expect(log.contains("application_name=listctl/status"), "the server log names the command")
            #expect(log.contains("application_name=listctl/lists"))
        }
    }
}

import Foundation
import Glibc
import Postgres
import TestSupport
import Testing

@Suite("Test support: a throwaway PostgreSQL and a server that never answers")
struct TestSupportTests {
    @Test("a throwaway cluster answers, restarts, stops, starts again and is removed by destroy")
    func throwawayPostgres() async throws {
        let directory = try await withThrowawayPostgres { server in
            #expect(server.url == "postgresql://postgres@127.0.0.1:\(server.port)/postgres")
            let first = try await PostgresConnection.connect(to: server.url)
            #expect(try await first.query("SELECT 1")[0].decode(Int.self, at: 0) == 1)

            try await server.restart()
            await #expect(throws: (any Error).self, "a connection from before the restart is cut") {
                try await first.query("SELECT 1")
            }
            await first.close()
            let second = try await PostgresConnection.connect(to: server.url)
            #expect(try await second.query("SELECT 2")[0].decode(Int.self, at: 0) == 2)

            try await server.stop()
            await #expect(throws: (any Error).self, "the stopped server is gone") {
                try await second.query("SELECT 1")
            }
            await second.close()
            await #expect(throws: (any Error).self) { try await PostgresConnection.connect(to: server.url) }

            try await server.startAgain()
            let third = try await PostgresConnection.connect(to: server.url)
            #expect(try await third.query("SELECT 3")[0].decode(Int.self, at: 0) == 3)
            await third.close()
            #expect(FileManager.default.fileExists(atPath: server.directory.path))
            return server.directory
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path), "destroy removes the cluster's folder")
    }

    @Test("two throwaway clusters run side by side on their own ports")
    func twoClusters() async throws {
        try await withThrowawayPostgres { one in
            try await withThrowawayPostgres { two in
                #expect(one.port != two.port)
                try await one.stop()
                let connection = try await PostgresConnection.connect(to: two.url)
                #expect(try await connection.query("SELECT 1")[0].decode(Int.self, at: 0) == 1)
                await connection.close()
            }
        }
    }

    @Test("the silent server accepts a connection and sends nothing until closed")
    func silentServer() async throws {
        // Blocking socket calls run on a thread of their own, never on the cooperative pool; the
        // expectations are checked here, in the test's task (an issue recorded on another thread
        // belongs to no test, and a property test running beside this one would count it as its own).
        let seen = try await onThread { try Self.silentServerBlocking() }
        #expect(seen.connectError == nil, "connect: \(seen.connectError ?? "")")
        #expect(seen.readableBeforeClose == 0, "nothing to read within a second")
        #expect(seen.readableAfterClose == 1, "close() ends the connection")
        #expect(seen.received <= 0, "end-of-file or reset, never data")
    }

    struct SilentServerObservation: Sendable {
        var connectError: String?
        var readableBeforeClose: Int32 = -1
        var readableAfterClose: Int32 = -1
        var received = 1
    }

    static func silentServerBlocking() throws -> SilentServerObservation {
        var seen = SilentServerObservation()
        let server = try SilentServer.start()
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard client >= 0 else { throw TestSupportError(message: "socket: \(String(cString: strerror(errno)))") }
        defer { close(client) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(server.port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected != 0 { seen.connectError = String(cString: strerror(errno)) }

        var poll = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
        seen.readableBeforeClose = Glibc.poll(&poll, 1, 1000)

        server.close()
        poll.revents = 0
        seen.readableAfterClose = Glibc.poll(&poll, 1, 15_000)
        var byte: UInt8 = 0
        seen.received = recv(client, &byte, 1, 0)
        server.close()  // a second close does nothing
        return seen
    }
}

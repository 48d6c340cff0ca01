import Foundation
import Testing

/// Model-checks the delivery ledger's protocol (docs/LEDGER.md,
/// Tests/Model/ledger.pml) with spin, through scripts/check-ledger-model.sh,
/// which a person can run as well.
@Suite("The ledger's protocol, model-checked with spin")
struct LedgerModelTests {
    /// The package root: this file is Tests/MigrationsTests/LedgerModelTests.swift.
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("no part recorded twice, parts in order, duplicates only after a crash, an expired lease or an unknown outcome, every run ends; the unconditional ack is caught")
    func model() async throws {
        let spin = ["/usr/bin/spin", "/usr/local/bin/spin"].contains { FileManager.default.isExecutableFile(atPath: $0) }
        #expect(spin, "spin is not installed: run `make test`, whose scripts/setup.sh installs it")
        guard spin else { return }

        let result = try await Self.runScript(timeout: 600)
        let lines = result.output.split(separator: "\n").map(String.init)
        func line(_ name: String) -> String? { lines.first { $0.hasPrefix("\(name):") } }
        #expect(result.status == 0, "scripts/check-ledger-model.sh failed:\n\(result.output)")
        for name in ["safety-stall", "safety-env", "termination"] {
            let found = line(name)
            #expect(found?.contains("errors: 0,") == true, "\(name): \(found ?? "no result")\n\(result.output)")
            #expect(found?.contains("INCOMPLETE") == false, "\(name) did not search the whole state space")
        }
        let broken = line("broken-ack")
        #expect(broken != nil && broken?.contains("errors: 0,") == false, "the broken variant passed:\n\(result.output)")
    }

    struct Output {
        let status: Int32
        let output: String
    }

    /// Runs the script on a thread of its own, off Swift's cooperative pool,
    /// with its output in a file; kills it after `timeout` seconds.
    static func runScript(timeout: TimeInterval) async throws -> Output {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result {
                    let log = FileManager.default.temporaryDirectory
                        .appendingPathComponent("ledger-model-\(UUID().uuidString).log")
                    FileManager.default.createFile(atPath: log.path, contents: nil)
                    defer { try? FileManager.default.removeItem(at: log) }
                    let handle = try FileHandle(forWritingTo: log)
                    defer { try? handle.close() }
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/bin/bash")
                    process.arguments = [root.appendingPathComponent("scripts/check-ledger-model.sh").path]
                    process.currentDirectoryURL = root
                    process.standardOutput = handle
                    process.standardError = handle
                    process.standardInput = FileHandle.nullDevice
                    try process.run()
                    let deadline = Date().addingTimeInterval(timeout)
                    while process.isRunning && Date() < deadline { usleep(50_000) }
                    var timedOut = false
                    if process.isRunning {
                        timedOut = true
                        process.terminate()
                    }
                    process.waitUntilExit()
                    var text = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
                    if timedOut { text += "\ntimed out after \(Int(timeout)) s" }
                    return Output(status: timedOut ? -1 : process.terminationStatus, output: text)
                })
            }.start()
        }
    }
}

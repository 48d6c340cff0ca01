import Foundation
import TestSupport
import Testing

/// Tests/tools/browser_pages.py: headless Chromium driven by Selenium through
/// one of its journeys, against a running `serve` (the public host mapped to
/// its loopback port). Screenshots go to `LISTCTL_SCREENSHOTS`, else the test's
/// work folder.
enum BrowserPages {
    struct Outcome {
        /// What the browser saw, by page name (its title, URL, scripts, whether it fits a phone…).
        let seen: [String: [String: Any]]
        let screenshots: URL
    }

    /// Runs `journey` with `arguments`; records an issue when the script fails.
    static func run(_ journey: String, _ arguments: [String], port: Int, work: URL) async throws -> Outcome {
        let shots = ProcessInfo.processInfo.environment["LISTCTL_SCREENSHOTS"].map { URL(fileURLWithPath: $0) }
            ?? work.appendingPathComponent("screenshots")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/browser_pages.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, journey] + arguments
            + ["--shots", shots.path, "--map", "MAP news.example.org 127.0.0.1:\(port)"]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let (status, stdout, stderr) = try await onThread { () -> (Int32, String, String) in
            try process.run()
            let stdout = out.fileHandleForReading.readDataToEndOfFile(), stderr = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
        }
        print("measured: browser saw \(stdout)")
        print("screenshots: \(shots.path)")
        #expect(status == 0, "\(stdout) \(stderr)")
        let seen = try JSONSerialization.jsonObject(with: Data(stdout.utf8)) as? [String: [String: Any]] ?? [:]
        return Outcome(seen: seen, screenshots: shots)
    }

    /// Each page ran no script and fit a 390-pixel screen.
    static func expectPlainAndPhoneSized(_ seen: [String: [String: Any]], pages: [String]) {
        for page in pages {
            #expect(seen[page]?["scripts"] as? Int == 0, "\(page): no JavaScript")
            #expect(seen[page]?["fitsPhone"] as? Bool == true, "\(page): fits a 390-pixel screen")
        }
    }

    /// Each screenshot was written.
    static func expectScreenshots(_ folder: URL, _ names: [String]) {
        for name in names {
            let size = (try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.size] as? Int) ?? 0
            #expect(size > 1000, "\(name) kept")
        }
    }
}

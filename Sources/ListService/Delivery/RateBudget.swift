import Foundation
import Postgres

/// The pace of a delivery run (docs/LEDGER.md §7): the transport's shared
/// token bucket in the database (`?rate=` on the transport URL), which every
/// worker draws from before it claims, and this run's own cap (`--rate`).
actor RateBudget {
    let transportKey: String
    let sharedRate: Double?
    let localRate: Double?
    private var localTokens: Double
    private var localRefilled = ContinuousClock.now

    init(transportKey: String, sharedRate: Double?, localRate: Double?) {
        self.transportKey = transportKey
        self.sharedRate = sharedRate
        self.localRate = localRate
        localTokens = max(1, localRate ?? 1)
    }

    nonisolated var isLimited: Bool { sharedRate != nil || localRate != nil }

    /// Makes sure the shared bucket exists with this rate (burst: one second's worth).
    func install(on connection: PostgresConnection) async throws {
        guard let sharedRate else { return }
        try await connection.query(LedgerSQL.upsertBucket, transportKey, sharedRate, max(1, sharedRate))
    }

    /// How many messages may be claimed now, up to `wanted`, and how long to
    /// wait before asking again when none may.
    func draw(_ wanted: Int, on connection: PostgresConnection) async throws -> (granted: Int, wait: Duration) {
        var granted = wanted
        var wait = Duration.zero
        if let localRate {
            let now = ContinuousClock.now
            let elapsed = now - localRefilled
            localRefilled = now
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            localTokens = min(max(1, localRate), localTokens + seconds * localRate)
            granted = min(granted, Int(localTokens.rounded(.down)))
            if granted == 0 { wait = .milliseconds(Int64(max(1, (1 - localTokens) / localRate * 1000))) }
        }
        if granted > 0, sharedRate != nil {
            let rows = try await connection.query(LedgerSQL.drawTokens, transportKey, granted)
            if let row = rows.first {
                let got: Int = try row.decode(at: 0)
                let rate: Double = try row.decode(at: 1)
                let available: Double = try row.decode(at: 2)
                if got == 0 { wait = .milliseconds(Int64(max(1, (1 - available) / rate * 1000))) }
                granted = got
            }
        }
        if localRate != nil { localTokens -= Double(granted) }
        return (granted, wait)
    }

    /// Returns tokens drawn and not used (the claim found fewer rows).
    func giveBack(_ unused: Int, on connection: PostgresConnection) async throws {
        guard unused > 0 else { return }
        if localRate != nil { localTokens += Double(unused) }
        if sharedRate != nil { try await connection.query(LedgerSQL.returnTokens, transportKey, Double(unused)) }
    }
}
